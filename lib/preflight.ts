/*
 * What the primary checks after the options resolved and before the first fork, where a check needs the network
 * or other processes: the addresses resolve, and no worker of a dead primary still holds the app's port. A
 * problem here is one coded error and no fork, instead of a crash loop.
 */
import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'
import type { Logger } from 'pino'
import { FST_CLUSTER_INVALID_OPTION, FST_CLUSTER_ORPHAN_WORKERS } from './errors.js'
import { checkFastifyCliValues, fastifyCliValues } from './fastify-cli-flags.js'
import { describeValue } from './messages.js'
import type { OptionNames, ResolvedOptions } from './options.js'
import { findOrphanWorkers, stillListening, type ProcReader, LINUX_PROC } from './orphan-workers.js'
import { WORKER_ENV } from './protocol.js'

/** A resolver that answers neither way within this is treated as a failure: the workers would hang on it too. */
const LOOKUP_DEADLINE_MS = 5000
/** How long a SIGKILLed orphan gets to release the port. */
const ORPHAN_DEADLINE_MS = 5000

/** Fails with the option's name and value when `host` is neither an IP address nor a name this machine resolves. */
export async function checkResolvable (name: string, host: string,
  resolve: (host: string) => Promise<unknown> = async (h) => await lookup(h)): Promise<void> {
  if (isIP(host) !== 0) return
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => { reject(Object.assign(new Error('no answer'), { code: 'ETIMEOUT' })) }, LOOKUP_DEADLINE_MS)
    timer.unref()
  })
  try {
    await Promise.race([resolve(host), expired])
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown'
    throw new FST_CLUSTER_INVALID_OPTION(name, `an IP address or a host name this machine resolves (lookup failed: ${code})`,
      describeValue(host), { cause: err })
  } finally {
    clearTimeout(timer)
  }
}

export interface PreflightDeps {
  env: NodeJS.ProcessEnv
  proc: ProcReader
  platform: string
}

/** Runs every pre-fork check; rejects with the first coded error. */
export async function preflight (options: ResolvedOptions, names: OptionNames, log: Logger,
  deps: PreflightDeps = { env: process.env, proc: LINUX_PROC, platform: process.platform }): Promise<void> {
  const cliValues = options.appFile === undefined ? null : fastifyCliValues(options.fastifyArgs, deps.env)
  const checks: Array<Promise<void>> = []
  if (options.healthPort !== undefined) checks.push(checkResolvable(names.healthHost ?? 'healthHost', options.healthHost))
  if (cliValues === null) {
    checks.push(checkResolvable(names.host ?? 'host', options.host))
  } else {
    const address = cliValues.get('address')
    if (address !== undefined) checks.push(checkResolvable(address.name, address.value))
  }
  await Promise.all(checks)
  const port = cliValues === null ? options.port : checkFastifyCliValues(cliValues)?.port ?? 0
  if (port !== 0 && deps.platform === 'linux') await stopOrphanWorkers(port, log, deps.proc)
}

/**
 * SIGKILLs workers of a dead primary that still listen on `port`, and waits until they let go of it.
 * Killing rather than refusing: such a worker's primary is gone, so nothing will ever stop it or hand it work
 * through the cluster; it is stuck (a worker whose loop runs exits as soon as its primary's channel closes); and
 * a refusal would turn every automatic restart (systemd, Kubernetes) into a loop that needs a human.
 */
export async function stopOrphanWorkers (port: number, log: Logger, proc: ProcReader = LINUX_PROC,
  deadline: number = ORPHAN_DEADLINE_MS): Promise<number[]> {
  const orphans = findOrphanWorkers(port, WORKER_ENV, proc)
  if (orphans.length === 0) return []
  const pids = orphans.map((o) => o.pid)
  log.warn({ event: 'cluster:orphan-workers', port, pids, parents: orphans.map((o) => o.ppid) },
    `workers of a primary that died still listen on port ${port}: killing pids ${pids.join(', ')}`)
  const failed: string[] = []
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code !== 'ESRCH') failed.push(`${pid}: ${String(code)}`)
    }
  }
  if (failed.length > 0) throw new FST_CLUSTER_ORPHAN_WORKERS(port, pids.join(', '), `kill failed (${failed.join(', ')})`)
  const until = Date.now() + deadline
  for (;;) {
    const left = pids.filter((pid) => stillListening(pid, port, proc))
    if (left.length === 0) break
    if (Date.now() > until) throw new FST_CLUSTER_ORPHAN_WORKERS(port, left.join(', '), `still listening ${deadline} ms after SIGKILL`)
    // Not unref'd: before the first fork nothing else may keep the primary's event loop alive.
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  log.info({ event: 'cluster:orphan-workers-stopped', port, pids }, `stopped ${pids.length} orphan worker(s) on port ${port}`)
  return pids
}
