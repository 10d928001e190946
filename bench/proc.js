'use strict'
/*
 * What the bench reads about processes from /proc (Linux): CPU time, RSS, children, liveness. Elsewhere the
 * readers return null and the bench says so instead of guessing.
 */
const { readFileSync, readdirSync } = require('node:fs')
const { execFileSync } = require('node:child_process')

let clockTicks = null

/** USER_HZ: the unit of utime/stime in /proc/<pid>/stat (100 on Linux, asked once). */
function ticksPerSecond () {
  if (clockTicks === null) {
    try {
      clockTicks = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100
    } catch {
      clockTicks = 100
    }
  }
  return clockTicks
}

/** The fields of /proc/<pid>/stat (one thread's: `tid`) after the command name (which may hold spaces and parentheses). */
function statFields (pid, tid) {
  try {
    const text = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8')
    return text.slice(text.lastIndexOf(')') + 2).split(' ')
  } catch {
    return null
  }
}

/**
 * User + system CPU seconds the process (or only its thread `tid`) has used so far, or null. The thread comes in an
 * options object so that `pids.map(cpuSeconds)` (index as second argument) still reads whole processes.
 */
function cpuSeconds (pid, { tid } = {}) {
  const f = statFields(pid, tid)
  if (f === null) return null
  // After the name: state(0) ppid(1) ... utime(11) stime(12).
  return (Number(f[11]) + Number(f[12])) / ticksPerSecond()
}

/** Resident set size in bytes (VmRSS), or null. */
function rssBytes (pid) {
  try {
    const match = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return match === null ? null : Number(match[1]) * 1024
  } catch {
    return null
  }
}

/** True while the process exists and is not a zombie. */
function alive (pid) {
  try {
    process.kill(pid, 0)
  } catch (err) {
    return err.code === 'EPERM'
  }
  const f = statFields(pid)
  return f === null ? process.platform !== 'linux' : f[0] !== 'Z'
}

/** Every live descendant of `pid` (children, their children, ...), from /proc; [] where /proc is missing. */
function descendants (pid) {
  let entries
  try {
    entries = readdirSync('/proc')
  } catch {
    return []
  }
  const children = new Map()
  for (const name of entries) {
    if (!/^\d+$/.test(name)) continue
    const f = statFields(name)
    if (f === null || f[0] === 'Z') continue
    const ppid = Number(f[1])
    if (!children.has(ppid)) children.set(ppid, [])
    children.get(ppid).push(Number(name))
  }
  const found = []
  const queue = [pid]
  while (queue.length > 0) {
    for (const child of children.get(queue.shift()) ?? []) {
      found.push(child)
      queue.push(child)
    }
  }
  return found
}

module.exports = { alive, cpuSeconds, descendants, rssBytes, ticksPerSecond }
