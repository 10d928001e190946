/*
 * What fastify-cluster relies on in fastify-cli's private modules (plugin/worker-runtime.ts,
 * lib/primary/file-watcher.ts, lib/primary/preflight.ts). fastify-cli does not publish these as API: an update that
 * changes them must fail here, saying what moved, before it fails in a user's worker. Update the pinned range in
 * package.json only with this test green.
 */
import t from 'tap'
import { createRequire } from 'node:module'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'

const ROOT = join(__dirname, '..')
const ours = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { dependencies: Record<string, string> }
const cliPackage = require.resolve('fastify-cli/package.json')
const version = (JSON.parse(readFileSync(cliPackage, 'utf8')) as { version: string }).version
const changed = (what: string): string => `fastify-cli ${version} changed what fastify-cluster relies on: ${what}`

t.test('the installed fastify-cli is in the tested range', async (t) => {
  const range = ours.dependencies['fastify-cli'] ?? ''
  const pinned = /^~(\d+)\.(\d+)\.(\d+)$/.exec(range)
  t.ok(pinned, `package.json pins fastify-cli with ~ (patch updates only), received "${range}"`)
  const [major, minor, patch] = version.split('.').map(Number)
  t.ok(pinned !== null && major === Number(pinned[1]) && minor === Number(pinned[2]) && (patch ?? 0) >= Number(pinned[3]),
    `fastify-cli ${version} satisfies ${range}`)
})

t.test('fastify-cli/args.js parses `fastify start` arguments into the fields we read', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'fastify-cli-contract-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const config = join(dir, 'config.json')
  writeFileSync(config, JSON.stringify({ address: '127.0.0.2', logLevel: 'warn' }))
  let parseArgs: unknown
  try {
    parseArgs = (await import('fastify-cli/args.js')).default
  } catch (err) {
    t.fail(changed(`cannot import fastify-cli/args.js (${(err as Error).message})`))
    return
  }
  t.type(parseArgs, 'function', changed('fastify-cli/args.js no longer exports a function'))
  const parsed = (parseArgs as (args: string[]) => Record<string, unknown>)([
    '-p', '4000', '-c', config, '-P', '-o', '-w', '--ignore-watch', 'tmp', '--follow-watch', 'src', '-V',
    '--body-limit', '100', '-T', '2000', '-g', '700', '-r', 'a', '-i', 'b', '-x', '/v1', '-L', 'log.js',
    '--trust-proxy-enabled', '-s', '/tmp/x.sock', '/app.js', '--', '--greeting', 'hi'
  ])
  const expected: Record<string, unknown> = {
    _: ['/app.js'],
    port: 4000,
    address: '127.0.0.2', // from the -c file
    socket: '/tmp/x.sock',
    logLevel: 'warn', // from the -c file
    prettyLogs: true,
    options: true,
    watch: true,
    followWatch: 'src',
    verboseWatch: true,
    bodyLimit: 100,
    pluginTimeout: 2000,
    closeGraceDelay: 700,
    pluginOptions: { greeting: 'hi' },
    prefix: '/v1',
    loggingModule: 'log.js',
    trustProxy: true
  }
  for (const [key, value] of Object.entries(expected)) {
    t.same(parsed[key], value, changed(`args.js "${key}" should be ${JSON.stringify(value)}, is ${JSON.stringify(parsed[key])}`))
  }
  t.same([parsed.require].flat(), ['a'], changed('args.js "require"'))
  t.same([parsed.import].flat(), ['b'], changed('args.js "import"'))
  t.match(parsed.ignoreWatch, /node_modules.*tmp/, changed('args.js "ignoreWatch" (defaults, then --ignore-watch)'))
  const defaults = (parseArgs as (args: string[]) => Record<string, unknown>)(['/app.js'])
  t.equal(defaults.logLevel, 'fatal', changed('the default log level'))
  t.equal(defaults.pluginTimeout, 10_000, changed('the default plugin timeout'))
  const prev = process.env.FASTIFY_PORT
  process.env.FASTIFY_PORT = '4567'
  t.teardown(() => { if (prev === undefined) delete process.env.FASTIFY_PORT; else process.env.FASTIFY_PORT = prev })
  t.equal((parseArgs as (args: string[]) => Record<string, unknown>)(['/app.js']).port, 4567, changed('FASTIFY_* env vars'))
})

t.test('fastify-cli/util.js loads app files and reports errors with the messages we map', async (t) => {
  let cli: Record<string, unknown>
  try {
    cli = await import('fastify-cli/util.js') as unknown as Record<string, unknown>
  } catch (err) {
    t.fail(changed(`cannot import fastify-cli/util.js (${(err as Error).message})`))
    return
  }
  for (const name of ['requireModule', 'requireESModule', 'requireModuleDefaultExport', 'requireFastifyForModule',
    'requireServerPluginFromPath', 'isKubernetes']) {
    t.type(cli[name], 'function', changed(`util.js no longer exports ${name}()`))
  }
  const dir = mkdtempSync(join(tmpdir(), 'fastify-cli-contract-'))
  t.teardown(() => { rmSync(dir, { recursive: true, force: true }) })
  const good = join(dir, 'good.js')
  writeFileSync(good, 'module.exports = async function (fastify, opts) {}\n')
  const noOpts = join(dir, 'no-opts.js')
  writeFileSync(noOpts, 'module.exports = async function (fastify) {}\n')
  const load = cli.requireServerPluginFromPath as (file: string) => Promise<unknown>
  t.type(await load(good), 'function', changed('requireServerPluginFromPath() should resolve with the plugin'))
  // plugin/worker-runtime.ts maps these two messages to FST_CLUSTER_APP_NOT_FOUND and FST_CLUSTER_APP_NOT_PLUGIN.
  await t.rejects(load(join(dir, 'missing.js')), { message: /doesn't exist/ },
    changed('a missing app file no longer fails with "doesn\'t exist"'))
  await t.rejects(load(noOpts), { message: /Async\/Await plugin/ },
    changed('an async plugin without opts no longer fails with "Async/Await plugin"'))
  const fastify = (cli.requireFastifyForModule as (file: string) => { module: unknown }).call(null, good)
  t.type(fastify?.module, 'function', changed('requireFastifyForModule() should return { module: Fastify }'))
  t.type((cli.isKubernetes as () => unknown)(), 'boolean', changed('isKubernetes() should return a boolean'))
})

t.test("fastify-cli's watch rules and its is-docker", async (t) => {
  let utils: { arrayToRegExp?: unknown }
  try {
    utils = await import('fastify-cli/lib/watch/utils.js') as { arrayToRegExp?: unknown }
  } catch (err) {
    t.fail(changed(`cannot import fastify-cli/lib/watch/utils.js (${(err as Error).message})`))
    return
  }
  t.type(utils.arrayToRegExp, 'function', changed('lib/watch/utils.js no longer exports arrayToRegExp()'))
  const re = (utils.arrayToRegExp as (p: string[]) => RegExp)(['node_modules', '.git'])
  t.ok(re.test('/srv/app/node_modules/x.js'), changed('arrayToRegExp() should match an ignored directory'))
  t.notOk(re.test('/srv/app/routes/git.js'), changed('arrayToRegExp() should escape a leading dot'))
  // plugin/worker-runtime.ts listens on 0.0.0.0 in a container with the is-docker fastify-cli itself uses.
  const fromCli = createRequire(cliPackage)
  let isDocker: unknown
  try {
    isDocker = fromCli('is-docker')
  } catch (err) {
    t.fail(changed(`is-docker cannot be resolved from ${dirname(cliPackage)} (${(err as Error).message})`))
    return
  }
  const fn = typeof isDocker === 'function' ? isDocker : (isDocker as { default?: unknown }).default
  t.type(fn, 'function', changed('is-docker should export a function (or a default one)'))
  t.type((fn as () => unknown)(), 'boolean', changed('is-docker() should return a boolean'))
})
