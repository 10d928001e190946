/*
 * Closing the terminal of a foreground cluster (a real pseudo-terminal, util-linux `script`), directly and under
 * npm: SIGHUP is a hangup there, and everything stops gracefully.
 */
import t, { type Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CLI, ClusterProcess, FIXTURES, alive, assertGone, request } from './helpers/cluster-process'
import { privateControlEnv } from './helpers/control-dir'

const base = ['start', '--workers', '2', '-p', '0', '-a', '127.0.0.1']

/** Single-quotes a word for `sh -c`. */
function sh (word: string): string {
  return `'${word.replace(/'/g, "'\\''")}'`
}

/** Runs `command` on a fresh pseudo-terminal (util-linux `script`); its output is followed as a cluster's. */
function underTerminal (t: Test, command: string, env: NodeJS.ProcessEnv): { cluster: ClusterProcess, script: ChildProcess } {
  const script = spawn('script', ['-qfc', command, '/dev/null'], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] })
  const cluster = new ClusterProcess(script)
  t.teardown(async () => {
    const primary = cluster.lines.find((l) => typeof l.primaryPid === 'number')?.primaryPid as number | undefined
    for (const pid of [script.pid, primary, ...cluster.forkedPids()]) {
      if (pid !== undefined && alive(pid)) try { process.kill(pid, 'SIGKILL') } catch {}
    }
  })
  return { cluster, script }
}

async function portIsFree (port: number): Promise<boolean> {
  const server = net.createServer()
  try {
    server.listen(port, '127.0.0.1')
    await once(server, 'listening')
    return true
  } catch {
    return false
  } finally {
    server.close()
  }
}

/** The parent pid and command line of a process, from /proc. */
function processInfo (pid: number): { ppid: number, cmd: string } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
  return { ppid, cmd: readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim() }
}

/** Closes the terminal (its `script` dies, the pty master closes) and checks that the cluster stopped cleanly. */
async function hangUpAndCheck (t: Test, cluster: ClusterProcess, script: ChildProcess,
  port: number, dir: string, closeFile: string, extra: number[] = []): Promise<void> {
  const primary = cluster.lines.find((l) => typeof l.primaryPid === 'number')?.primaryPid as number
  const workers = cluster.liveWorkerPids()
  t.equal(workers.length, 2)
  const closed = Date.now()
  script.kill('SIGKILL')
  await assertGone([primary, ...workers, ...extra], 20_000)
  t.comment(`every process gone ${Date.now() - closed} ms after the terminal closed`)
  t.pass(`the primary ${primary}, its workers ${workers.join(', ')}${extra.length > 0 ? ` and ${extra.join(', ')}` : ''} are gone`)
  t.ok(await portIsFree(port), `port ${port} is free`)
  t.same(readdirSync(dir), [], 'the control entry was removed: the primary went through its graceful close')
  t.same(readFileSync(closeFile, 'utf8').trim().split('\n').map(Number).sort(), [...workers].sort(), "every worker drained through Fastify's onClose")
}

t.test('closing the terminal of a foreground cluster stops it gracefully: every process gone, the port free', async (t) => {
  const env = privateControlEnv(t)
  const closeFile = join(env.XDG_RUNTIME_DIR, 'closed')
  const command = ['exec', process.execPath, CLI, ...base, '--name', 'tty', `${FIXTURES}/records-close.js`].map(sh).join(' ')
  const { cluster, script } = underTerminal(t, command, { ...env, FIXTURE_CLOSE_FILE: closeFile })
  const port = await cluster.ready(60_000)
  t.equal((await request(port, '/')).status, 200)
  await hangUpAndCheck(t, cluster, script, port, env.dir, closeFile)
})

t.test('under npm (an npx-style parent) on a terminal: reload by name reaches the primary; closing the terminal stops everything', async (t) => {
  const env = privateControlEnv(t)
  const project = mkdtempSync(join(tmpdir(), 'fc-npm-'))
  t.teardown(() => { rmSync(project, { recursive: true, force: true }) })
  const closeFile = join(project, 'closed')
  const start = [process.execPath, CLI, ...base, '--name', 'via-npm', `${FIXTURES}/records-close.js`].map(sh).join(' ')
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'npm-parent', private: true, scripts: { start } }))
  // Nothing outside the temp directories: npm's cache and logs go there too.
  const npmEnv = { npm_config_cache: join(project, '.npm'), npm_config_update_notifier: 'false', npm_config_fund: 'false', npm_config_audit: 'false' }
  const { cluster, script } = underTerminal(t, `cd ${sh(project)} && exec npm start`, { ...env, ...npmEnv, FIXTURE_CLOSE_FILE: closeFile })
  const port = await cluster.ready(60_000)
  const primary = cluster.lines.find((l) => typeof l.primaryPid === 'number')?.primaryPid as number
  // Walk up from the primary: npm is an ancestor, between it and the terminal.
  const ancestors: Array<{ pid: number, cmd: string }> = []
  for (let pid = processInfo(primary).ppid; pid > 1 && pid !== script.pid && ancestors.length < 5; pid = processInfo(pid).ppid) {
    ancestors.push({ pid, cmd: processInfo(pid).cmd })
  }
  const npm = ancestors.find((a) => /\bnpm\b/.test(a.cmd))
  t.ok(npm !== undefined, `npm is the primary's ancestor: ${ancestors.map((a) => `${a.pid} ${a.cmd}`).join(' <- ')}`)

  const reload = ClusterProcess.cli(t, ['reload', 'via-npm'], { env })
  t.equal((await reload.exit(60_000)).code, 0, `reload by name reaches the primary, not npm\n${reload.stderr}`)
  t.equal([...reload.stdout.matchAll(/^slot \d: \d+ -> \d+$/gm)].length, 2, reload.stdout)
  t.ok(alive(npm?.pid ?? 0), 'npm is untouched')
  // The reload's old workers drained and exited before it returned; what follows is about the current ones.
  await cluster.waitForCount('worker:exit', 2, 10_000)
  writeFileSync(closeFile, '')
  await hangUpAndCheck(t, cluster, script, port, env.dir, closeFile, ancestors.map((a) => a.pid))
})

