/*
 * Every example is run by a test. Kubernetes and systemd cannot run here, so each file is read, and the exact
 * command and environment it holds are run against a real cluster with only what a test must change: free ports
 * on loopback, the repository's example app, and (for Kubernetes) a shorter drain delay. Then the test does what
 * the kubelet or systemd would do (probe, reload, stop) and checks the outcome against the file's own numbers.
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
// A dev dependency of tap (through tap-yaml); a real parser also checks that the whole manifest is valid YAML.
import { parseAllDocuments } from 'yaml'
import { parseStartArgs } from '../dist/lib/cli/start-args.js'
import { resolveOptions } from '../dist/lib/shared/options.js'
import { ClusterProcess, ROOT, assertGone, request, type Response } from './helpers/cluster-process'

const EXAMPLES = join(ROOT, 'examples')
const APP = join(EXAMPLES, 'cli', 'app.js')
/** What `node_modules/.bin/fastify-cluster` links to once the package is installed: the file the tests run. */
const BIN = join(ROOT, (JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { bin: Record<string, string> }).bin['fastify-cluster'] ?? '')

/** The drain budget the cluster would use for these `start` arguments and env, resolved by the package itself. */
function drainBudget (startArgs: readonly string[], env: NodeJS.ProcessEnv): { drainDelay: number, total: number } {
  const parsed = parseStartArgs(startArgs, env)
  const o = resolveOptions(parsed.options, parsed.names, env)
  return { drainDelay: o.drainDelay, total: o.drainDelay + o.workerStopTimeout + o.forceKillDelay }
}

/** The value after `flag`; fails if the flag is absent, so a renamed flag cannot slip through. */
function flagValue (args: readonly string[], flag: string): string {
  const i = args.indexOf(flag)
  if (i === -1 || args[i + 1] === undefined) throw new Error(`${flag} not found in ${args.join(' ')}`)
  return args[i + 1] as string
}

function withFlag (args: readonly string[], flag: string, value: string): string[] {
  flagValue(args, flag)
  const i = args.indexOf(flag)
  return [...args.slice(0, i + 1), value, ...args.slice(i + 2)]
}

/** Polls `path` until `accept` says yes; fails naming what it saw last. */
async function poll (port: number, path: string, accept: (res: Response) => boolean, timeout: number, what: string): Promise<Response> {
  const deadline = Date.now() + timeout
  let last = 'no answer'
  for (;;) {
    try {
      const res = await request(port, path, { timeout: 1000 })
      if (accept(res)) return res
      last = `${res.status} ${res.body}`
    } catch (err) {
      last = (err as Error).message
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeout} ms waiting for ${what}; last: ${last}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

interface Probe { httpGet: { path: string, port: number } }
interface Container {
  command: string[]
  args: string[]
  env?: Array<{ name: string, value: string }>
  ports: Array<{ containerPort: number }>
  readinessProbe: Probe
  livenessProbe: Probe
}
interface Manifest {
  kind: string
  spec: {
    template: { spec: { terminationGracePeriodSeconds: number, containers: Container[] } }
    ports: Array<{ targetPort: number }>
  }
}

t.test('examples/kubernetes/deployment.yaml: probes answer, SIGTERM drains (/ready 503, /live 200), exit 0 within the grace period', async (t) => {
  const docs = parseAllDocuments(readFileSync(join(EXAMPLES, 'kubernetes', 'deployment.yaml'), 'utf8'))
  if (!Array.isArray(docs)) throw new Error('the manifest is empty')
  for (const doc of docs) t.same(doc.errors, [], 'valid YAML')
  const manifests = docs.map((doc) => doc.toJS() as Manifest)
  const deployment = manifests.find((m) => m.kind === 'Deployment')
  const service = manifests.find((m) => m.kind === 'Service')
  if (deployment === undefined || service === undefined) throw new Error('expected a Deployment and a Service')
  const pod = deployment.spec.template.spec
  const container = pod.containers[0] as Container
  t.same(container.command, ['node_modules/.bin/fastify-cluster'], 'the installed bin is PID 1')
  const args = container.args
  t.equal(args[0], 'start', 'args: start ...')
  t.equal(args.at(-1), 'app.js', '... app.js')
  const env = Object.fromEntries((container.env ?? []).map((e) => [e.name, String(e.value)]))

  // The numbers of the file agree with each other.
  const budget = drainBudget(args.slice(1), env)
  t.ok(pod.terminationGracePeriodSeconds * 1000 > budget.total,
    `terminationGracePeriodSeconds ${pod.terminationGracePeriodSeconds} s > drainDelay + stop timeout + force-kill delay = ${budget.total} ms`)
  const healthPort = Number(flagValue(args, '--health-port'))
  const appPort = Number(flagValue(args, '-p'))
  t.equal(container.readinessProbe.httpGet.port, healthPort, 'readinessProbe on the health port')
  t.equal(container.livenessProbe.httpGet.port, healthPort, 'livenessProbe on the health port')
  t.same(container.ports.map((p) => p.containerPort).sort(), [appPort, healthPort].sort(), 'containerPorts: the app and health ports')
  t.same(service.spec.ports.map((p) => p.targetPort), [appPort], 'the Service exposes the app port only')

  // Run the container's command: free ports, loopback for the app, the example app, a shorter drain delay.
  let local = withFlag(args, '-p', '0')
  local = withFlag(local, '-a', '127.0.0.1')
  local = withFlag(local, '--health-port', '0')
  local = withFlag(local, '--drain-delay', '2s')
  local = [...local.slice(0, -1), APP]
  const drainDelay = drainBudget(local.slice(1), env).drainDelay
  const cluster = ClusterProcess.node(t, [BIN, ...local], { env })
  const port = await cluster.ready()
  const health = await cluster.healthPort()

  const { path: readyPath } = container.readinessProbe.httpGet
  const { path: livePath } = container.livenessProbe.httpGet
  await poll(health, readyPath, (r) => r.status === 200, 60_000, `readinessProbe ${readyPath} 200`)
  t.pass(`readinessProbe GET ${readyPath} is 200`)
  t.equal((await request(health, livePath)).status, 200, `livenessProbe GET ${livePath} is 200`)
  t.equal((await request(health, '/status')).status, 404, '/status is off on --health-address 0.0.0.0')
  t.equal((await request(port, '/')).status, 200, 'the app answers on the Service target port')

  const signalled = Date.now()
  cluster.child.kill('SIGTERM')
  const notReady = await poll(health, readyPath, (r) => r.status === 503, 1000, `${readyPath} 503 after SIGTERM`)
  t.same(JSON.parse(notReady.body), { status: 'draining' }, 'body: draining')
  t.ok(Date.now() - signalled < drainDelay, `${readyPath} is 503 ${Date.now() - signalled} ms after SIGTERM, within the drain delay`)
  t.equal((await request(health, livePath)).status, 200, `${livePath} stays 200 while draining`)
  t.equal((await request(port, '/')).status, 200, 'the app still serves during the drain delay')
  t.ok(Date.now() - signalled < drainDelay, 'those checks ran inside the drain delay')

  const exit = await cluster.exit(pod.terminationGracePeriodSeconds * 1000 - (Date.now() - signalled))
  const took = Date.now() - signalled
  t.equal(exit.code, 0, `exit 0, ${took} ms after SIGTERM (grace ${pod.terminationGracePeriodSeconds} s)`)
  t.ok(took >= drainDelay, 'served through the whole drain delay first')
  await assertGone(cluster.forkedPids(), 2000)
})

/** The `[Service]` settings of a unit file; only what this unit uses: one `key=value` a line, no continuations. */
function readService (text: string): { get: (key: string) => string, all: (key: string) => string[] } {
  const entries: Array<[string, string]> = []
  let section = ''
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue
    if (line.endsWith('\\')) throw new Error(`line continuations are not read here: ${line}`)
    const header = /^\[(\w+)\]$/.exec(line)
    if (header !== null) {
      section = header[1] as string
      continue
    }
    const eq = line.indexOf('=')
    if (eq === -1) throw new Error(`not a key=value line: ${line}`)
    if (section === 'Service') entries.push([line.slice(0, eq), line.slice(eq + 1)])
  }
  const all = (key: string): string[] => entries.filter(([k]) => k === key).map(([, v]) => v)
  const get = (key: string): string => {
    const values = all(key)
    if (values.length !== 1) throw new Error(`expected one ${key}=, found ${values.length}`)
    return values[0] as string
  }
  return { get, all }
}

/** A command line without quotes, variables or specifiers other than those named: split on spaces. */
function words (command: string, allowed: RegExp = /^$/): string[] {
  const argv = command.split(/\s+/)
  for (const word of argv) if (/["'\\%$]/.test(word) && !allowed.test(word)) throw new Error(`"${word}" needs systemd's own parsing`)
  return argv
}

function seconds (span: string): number {
  const m = /^(\d+)s$/.exec(span)
  if (m === null) throw new Error(`expected a span like "30s", received "${span}"`)
  return Number(m[1])
}

t.test('examples/systemd/fastify-cluster.service: ExecReload replaces every worker, KillSignal stops with exit 0 within TimeoutStopSec', async (t) => {
  const unit = readService(readFileSync(join(EXAMPLES, 'systemd', 'fastify-cluster.service'), 'utf8'))
  t.equal(unit.get('KillMode'), 'mixed', 'systemd signals the primary only')
  t.ok(['exec', 'simple'].includes(unit.get('Type')), 'Type=exec or simple: ExecStart is the main process')
  t.equal(unit.get('Restart'), 'on-failure', 'Restart=on-failure')
  const env: Record<string, string> = {}
  for (const assignment of unit.all('Environment')) {
    const [name, ...value] = words(assignment)[0]?.split('=') ?? []
    env[name as string] = value.join('=')
  }
  const [node, bin, ...args] = words(unit.get('ExecStart'))
  t.equal(node, '/usr/bin/node', 'ExecStart: node ...')
  t.match(bin, /\/node_modules\/\.bin\/fastify-cluster$/, '... the installed bin')
  t.equal(args[0], 'start', '... start ...')
  t.equal(args.at(-1), 'app.js', '... app.js')

  const budget = drainBudget(args.slice(1), env)
  const stopSec = seconds(unit.get('TimeoutStopSec'))
  t.ok(stopSec * 1000 > budget.total, `TimeoutStopSec ${stopSec} s > drainDelay + stop timeout + force-kill delay = ${budget.total} ms`)

  // Run ExecStart with the unit's environment: free ports on loopback, the example app.
  for (const name of ['FASTIFY_PORT', 'FASTIFY_ADDRESS', 'FASTIFY_HEALTH_PORT']) t.ok(name in env, `the unit sets ${name}`)
  const localEnv = { ...env, FASTIFY_PORT: '0', FASTIFY_ADDRESS: '127.0.0.1', FASTIFY_HEALTH_PORT: '0' }
  const cluster = ClusterProcess.node(t, [BIN, ...args.slice(0, -1), APP], { env: localEnv })
  const port = await cluster.ready()
  const health = await cluster.healthPort()
  const before = cluster.liveWorkerPids()
  t.equal(before.length, Number(env.FASTIFY_WORKERS), `FASTIFY_WORKERS=${String(env.FASTIFY_WORKERS)} workers`)

  // ExecReload, with $MAINPID as systemd sets it.
  const reload = words(unit.get('ExecReload'), /^\$MAINPID$/).map((w) => w === '$MAINPID' ? String(cluster.pid) : w)
  t.same(reload.slice(0, 2), ['/bin/kill', '-HUP'], 'ExecReload sends SIGHUP')
  const kill = spawn(reload[0] as string, reload.slice(1), { stdio: 'ignore' })
  t.same(await once(kill, 'exit'), [0, null], 'ExecReload exits 0')
  const done = await cluster.waitForEvent('cluster:reload:done', 120_000)
  t.equal(done.replaced, before.length, 'cluster:reload:done: every slot replaced')
  const after = cluster.liveWorkerPids()
  t.equal(after.length, before.length, 'as many workers as before')
  t.notOk(after.some((pid) => before.includes(pid)), 'every worker pid replaced')
  await assertGone(before, 2000)
  t.equal((await request(port, '/')).status, 200, 'the new workers serve')

  // On loopback /status is on: the status command sees the new workers.
  const status = ClusterProcess.cli(t, ['status', '--url', `http://127.0.0.1:${health}`, '--json'])
  t.equal((await status.exit(10_000)).code, 0, 'fastify-cluster status exits 0')
  t.same((JSON.parse(status.stdout) as { workers: Array<{ pid: number }> }).workers.map((w) => w.pid).sort(), [...after].sort(),
    'status lists the new workers')

  // systemctl stop with KillMode=mixed: KillSignal to the main process only.
  const stopped = Date.now()
  cluster.child.kill(unit.get('KillSignal') as NodeJS.Signals)
  const exit = await cluster.exit(stopSec * 1000)
  t.equal(exit.code, 0, `exit 0, ${Date.now() - stopped} ms after ${unit.get('KillSignal')} (TimeoutStopSec ${stopSec} s)`)
  await assertGone(cluster.forkedPids(), 2000)
})
