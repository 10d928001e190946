import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { checkConfigFile, checkTypeScriptApp, configFileOf } from '../dist/lib/primary/preflight.js'
import { CLI, ClusterProcess, FIXTURES } from './helpers/cluster-process'

const node = { nodeStrips: undefined, nodeFlags: [], preloads: [], nodeVersion: 'v20.19.0' }

t.test('a .ts app needs type stripping or a loader', async (t) => {
  t.throws(() => { checkTypeScriptApp('/srv/app.ts', node) }, {
    code: 'FST_CLUSTER_TYPESCRIPT_UNSUPPORTED',
    message: /app file "\/srv\/app\.ts" is TypeScript and Node v20\.19\.0 does not strip types: build it with tsc.*Node >= 22\.18.*-i tsx/
  })
  t.throws(() => { checkTypeScriptApp('app.mts', { ...node, nodeStrips: false }) }, { code: 'FST_CLUSTER_TYPESCRIPT_UNSUPPORTED' })
  t.throws(() => { checkTypeScriptApp('app.CTS', node) }, { code: 'FST_CLUSTER_TYPESCRIPT_UNSUPPORTED' })
  t.throws(() => { checkTypeScriptApp('app.ts', { ...node, nodeFlags: ['--no-experimental-strip-types'] }) },
    { code: 'FST_CLUSTER_TYPESCRIPT_UNSUPPORTED' }, 'stripping turned off is no stripping')
  for (const ok of [
    { ...node, nodeStrips: 'strip' },
    { ...node, nodeStrips: 'transform' },
    { ...node, preloads: ['tsx'] },
    { ...node, nodeFlags: ['--import', 'tsx'] },
    { ...node, nodeFlags: ['--import=tsx'] },
    { ...node, nodeFlags: ['-r', 'ts-node/register'] },
    { ...node, nodeFlags: ['--experimental-strip-types'] },
    { ...node, nodeFlags: ['--loader', 'ts-node/esm'] }
  ]) t.doesNotThrow(() => { checkTypeScriptApp('app.ts', ok) }, JSON.stringify(ok))
  t.doesNotThrow(() => { checkTypeScriptApp('app.js', node) }, 'a .js file is not checked')
  t.doesNotThrow(() => { checkTypeScriptApp('app.d.ts.js', node) })
})

t.test('a -c file may hold fastify-cli settings, not cluster ones', async (t) => {
  t.doesNotThrow(() => { checkConfigFile('c.json', { port: 3000, logLevel: 'info', address: '0.0.0.0', pluginTimeout: 1 }) })
  t.doesNotThrow(() => { checkConfigFile('c.json', null) })
  t.throws(() => { checkConfigFile('c.json', { port: 1, workers: 4 }) }, {
    code: 'FST_CLUSTER_CONFIG_FILE_CLUSTER_SETTING',
    message: /config file "c\.json" sets the cluster setting "workers".*use --workers or FASTIFY_WORKERS, or the start\(\) option/
  })
  for (const key of ['drainDelay', 'drain-delay', 'healthPort', 'maxRss', 'maxRssBytes', 'workerStopTimeout', 'stopTimeout']) {
    t.throws(() => { checkConfigFile('c.json', { [key]: 1 }) }, { code: 'FST_CLUSTER_CONFIG_FILE_CLUSTER_SETTING' }, key)
  }
})

t.test('the -c file is found as fastify-cli finds it', async (t) => {
  t.equal(configFileOf(['-p', '0', '-c', 'a.json', '/app.js'], {}), 'a.json')
  t.equal(configFileOf(['--config=b.json', '/app.js'], {}), 'b.json')
  t.equal(configFileOf(['/app.js', '--', '-c', 'plugin-option'], {}), undefined, 'not after --')
  t.equal(configFileOf(['/app.js'], { FASTIFY_CONFIG: 'env.json' }), 'env.json')
  t.equal(configFileOf(['-l', 'info', '/app.js'], {}), undefined)
})

const strips = (process.features as { typescript?: string | false }).typescript
// Node >= 22.6 knows the flag; on older Node types are never stripped anyway.
const noStrip = strips === undefined ? [] : ['--no-experimental-strip-types']

t.test('a .ts app on a Node that cannot strip types fails once, before any fork, with the hint', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fastify-cluster-ts-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  writeFileSync(join(dir, 'app.ts'), 'export default async function app (fastify: any, opts: any): Promise<void> {}\n')
  const cluster = ClusterProcess.node(t, [...noStrip, CLI, 'start', '--workers', '2', '-p', '0', join(dir, 'app.ts')])
  t.equal((await cluster.exit(30_000)).code, 1)
  t.match(cluster.stderr, /FST_CLUSTER_TYPESCRIPT_UNSUPPORTED: .*app\.ts" is TypeScript.*build it with tsc.*Node >= 22\.18.*-i tsx/)
  t.equal(cluster.stderr.match(/FST_CLUSTER_/g)?.length, 1, 'one error')
  t.same(cluster.forkedPids(), [], 'nothing forked')
})

t.test('cluster settings in a -c file are rejected before any fork, saying where they go', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fastify-cluster-config-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ logLevel: 'info', drainDelay: '5s' }))
  const cluster = ClusterProcess.cli(t, ['start', '--workers', '2', '-p', '0', '-c', join(dir, 'config.json'), `${FIXTURES}/healthy.js`])
  t.equal((await cluster.exit(30_000)).code, 1)
  t.match(cluster.stderr, /FST_CLUSTER_CONFIG_FILE_CLUSTER_SETTING: config file ".*config\.json" sets the cluster setting "drainDelay".*--drain-delay or FASTIFY_DRAIN_DELAY/)
  t.same(cluster.forkedPids(), [], 'nothing forked')
})

t.test('a -c file with fastify-cli settings only still works', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fastify-cluster-config-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ address: '127.0.0.1' }))
  const cluster = ClusterProcess.cli(t, ['start', '--workers', '1', '-p', '0', '-c', join(dir, 'config.json'), `${FIXTURES}/healthy.js`])
  await cluster.ready(60_000)
  const address = cluster.events('worker:ready')[0]?.address as { address: string } | undefined
  t.equal(address?.address, '127.0.0.1', 'the config file reached fastify-cli in the worker')
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(30_000)).code, 0)
})
