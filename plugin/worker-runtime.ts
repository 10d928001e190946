/*
 * The worker's main program: builds the Fastify app (from an app file through fastify-cli's own parser and
 * loader, or from an inline plugin) and listens; the process lifecycle (drain, boot failures, signals) is
 * plugin/process-lifecycle.ts.
 */
import { createRequire } from 'node:module'
import { resolve } from 'node:path'
import type { FastifyInstance, FastifyServerOptions, FastifyListenOptions, FastifyPluginAsync } from 'fastify'
import fp from 'fastify-plugin'
import {
  FST_CLUSTER_APP_NOT_FOUND, FST_CLUSTER_APP_NOT_PLUGIN, FST_CLUSTER_WORKER_BOOT
} from '../lib/shared/errors.js'
import { describeValue } from '../lib/shared/messages.js'
import { connectToPrimary, type PrimaryChannel } from './channel.js'
import { DEFER_UNDER_PRESSURE, fastifyCluster, finishClusterSetup, type ClusterPluginOptions } from './index.js'
import { WorkerLifecycle, bindOptions } from './process-lifecycle.js'
import { announceReady, isUnderPressure } from './registration.js'
import { StickyReceiver } from './sticky-receiver.js'
import { addReadinessRoute } from './readiness-route.js'

interface Built {
  fastify: FastifyInstance
  listen: FastifyListenOptions
}


async function boot (lifecycle: WorkerLifecycle, build: () => Promise<Built>): Promise<FastifyInstance> {
  let built: Built
  try {
    built = await build()
    // Plugins and onReady hooks run here, so a failure in listen() below is about binding only.
    await built.fastify.ready()
    // Told to drain while booting (shutdown, or a reload that was cancelled): close without ever listening.
    if (lifecycle.drainPending) {
      lifecycle.attach(built.fastify)
      return built.fastify
    }
    lifecycle.listening()
    const sticky = lifecycle.launch.sticky
    if (sticky === undefined) {
      await built.fastify.listen(bindOptions(built.listen, lifecycle.launch))
      lifecycle.attach(built.fastify)
    } else {
      // Sticky sessions: the primary listens; this worker serves the connections it sends (onListen hooks do not run).
      await built.fastify.ready()
      lifecycle.attach(built.fastify, new StickyReceiver(built.fastify.server))
      announceReady(built.fastify, sticky)
    }
  } catch (err) {
    lifecycle.fail(err)
    throw err
  }
  return built.fastify
}


/** The launcher's own registration: the app may register the plugin again with its under-pressure options. */
const LAUNCHER_REGISTRATION = { [DEFER_UNDER_PRESSURE]: true } as ClusterPluginOptions

const SERVER_DEFAULTS: FastifyServerOptions = {
  // While closing, requests still arriving on open keep-alive sockets are served (with Connection: close),
  // not answered 503: a drain must not produce errors.
  return503OnClosing: false
}

/** Runs the app file named in the launch contract (the worker's entry point for `appFile`). */
export async function runAppFileWorker (): Promise<FastifyInstance | undefined> {
  const channel = connectToPrimary()
  if (channel === null) throw new Error('fastify-cluster worker runtime started outside a fastify-cluster worker')
  const lifecycle = new WorkerLifecycle(channel)
  return await boot(lifecycle, async () => await buildFromAppFile(lifecycle, channel.launch.fastifyArgs ?? [], channel.launch.readinessPath))
    .catch(() => undefined)
}

const ASYNC_WITHOUT_OPTS = 'an async function without the (fastify, opts) parameters'

/** fastify-cli's loader errors, as our coded ones. */
function bootError (file: string, err: unknown): Error {
  const message = err instanceof Error ? err.message : String(err)
  if (message.includes("doesn't exist")) return new FST_CLUSTER_APP_NOT_FOUND(message, { cause: err })
  if (message.includes('Async/Await plugin')) return new FST_CLUSTER_APP_NOT_PLUGIN(file, ASYNC_WITHOUT_OPTS, { cause: err })
  return new FST_CLUSTER_WORKER_BOOT(message, { cause: err })
}

/**
 * Node >= 22 require()s a file written with ESM syntax in a CommonJS package (an `export default` app.js, or
 * app.ts run directly) as an ES module namespace, which fastify-cli's plugin check cannot read (it has no
 * prototype). The module loaded fine and is cached: take the namespace without running it again.
 */
function esmNamespace (file: string, err: unknown): (Record<string, unknown> & { default?: unknown }) | null {
  if (!(err instanceof TypeError)) return null
  try {
    const loaded: unknown = require(resolve(process.cwd(), file))
    return typeof loaded === 'object' && loaded !== null && Object.getPrototypeOf(loaded) === null
      ? loaded as Record<string, unknown>
      : null
  } catch {
    return null
  }
}

/** fastify-cli's rule: an async plugin must declare (fastify, opts), or Fastify would wait for a done callback. */
function isAsyncWithoutOpts (fn: unknown): boolean {
  return typeof fn === 'function' && fn.constructor.name === 'AsyncFunction' && fn.length !== 2
}

async function buildFromAppFile (lifecycle: WorkerLifecycle, args: string[], readinessPath: string | false): Promise<Built> {
  // fastify-cli does the parsing (flags, FASTIFY_* env, config file, .env) and the loading (CJS/ESM, checks).
  const { default: parseArgs } = await import('fastify-cli/args.js')
  const cli = await import('fastify-cli/util.js')
  const opts = parseArgs(args)
  const file = opts._[0]
  if (file === undefined) throw new FST_CLUSTER_APP_NOT_FOUND('no app file given')
  lifecycle.appFile = resolve(process.cwd(), file)
  for (const name of [opts.require ?? []].flat()) if (name !== '') cli.requireModule(name)
  for (const name of [opts.import ?? []].flat()) if (name !== '') await cli.requireESModule(name)

  let loaded: Record<string, unknown> & { default?: unknown }
  try {
    loaded = await cli.requireServerPluginFromPath(file)
  } catch (err) {
    const namespace = esmNamespace(file, err)
    if (namespace === null) throw bootError(file, err)
    loaded = namespace
    if (isAsyncWithoutOpts(namespace.default)) throw new FST_CLUSTER_APP_NOT_PLUGIN(file, ASYNC_WITHOUT_OPTS)
  }
  const appFn = typeof loaded === 'function' ? loaded : loaded.default
  if (typeof appFn !== 'function') throw new FST_CLUSTER_APP_NOT_PLUGIN(file, describeValue(appFn ?? loaded))
  lifecycle.loaded()
  const fileOptions = (opts.options === true && typeof loaded.options === 'object' && loaded.options !== null)
    ? loaded.options as Record<string, unknown>
    : {}

  const Fastify = cli.requireFastifyForModule(file).module
  const logger = opts.loggingModule === undefined
    ? { level: opts.logLevel, ...(opts.prettyLogs === true ? { transport: { target: 'pino-pretty' } } : {}) }
    : await cli.requireModuleDefaultExport(opts.loggingModule)
  const serverOptions: FastifyServerOptions = {
    ...SERVER_DEFAULTS,
    logger: logger as FastifyServerOptions['logger'],
    pluginTimeout: Number(opts.pluginTimeout),
    ...(opts.bodyLimit === undefined ? {} : { bodyLimit: Number(opts.bodyLimit) }),
    ...(opts.trustProxy === undefined || opts.trustProxy === false ? {} : { trustProxy: opts.trustProxy as FastifyServerOptions['trustProxy'] }),
    ...fileOptions
  }
  const fastify = Fastify(serverOptions)
  // Before the app, so fastify.cluster is there for it; under-pressure waits for the app's own options.
  await fastify.register(fastifyCluster, LAUNCHER_REGISTRATION)
  const appConfig: Record<string, unknown> = {
    ...fileOptions,
    ...opts.pluginOptions,
    ...(opts.prefix === undefined ? {} : { prefix: opts.prefix })
  }
  const plugin = appFn as FastifyPluginAsync
  await fastify.register(appConfig.skipOverride === true ? fp(plugin) : plugin, appConfig)
  await fastify.register(finishClusterSetup)
  if (readinessPath !== false) addReadinessRoute(fastify, readinessPath, isUnderPressure)

  const port = Number(opts.port ?? process.env.PORT ?? 3000)
  let listen: FastifyListenOptions
  if (opts.address !== undefined) listen = { port, host: opts.address }
  else if (opts.socket !== undefined) listen = { path: opts.socket }
  else if (isContainer(cli.isKubernetes)) listen = { port, host: '0.0.0.0' }
  else listen = { port }
  return { fastify, listen }
}

/** fastify-cli listens on 0.0.0.0 inside Docker or Kubernetes; so do we, with its own detection. */
function isContainer (isKubernetes: () => boolean): boolean {
  if (isKubernetes()) return true
  try {
    const fromCli = createRequire(require.resolve('fastify-cli/package.json'))
    const mod = fromCli('is-docker') as (() => boolean) | { default: () => boolean }
    return typeof mod === 'function' ? mod() : mod.default()
  } catch {
    return false
  }
}

/** Inline app settings, from the options `start()` received in this worker. */
export interface InlineApp {
  app: FastifyPluginAsync<any> | ((...args: any[]) => unknown)
  appOptions: Readonly<Record<string, unknown>>
  serverOptions: FastifyServerOptions | undefined
  port: number
  host: string
}

/** Runs an inline app in this worker; resolves with the listening instance. */
export async function runInlineWorker (channel: PrimaryChannel, inline: InlineApp,
  onClosed: () => void): Promise<FastifyInstance> {
  const lifecycle = new WorkerLifecycle(channel)
  // The script is this process's main module: it has loaded.
  lifecycle.loaded()
  return await boot(lifecycle, async () => {
    const { default: Fastify } = await import('fastify')
    const fastify = Fastify({ ...SERVER_DEFAULTS, ...inline.serverOptions })
    fastify.addHook('onClose', async () => { onClosed() })
    await fastify.register(fastifyCluster, LAUNCHER_REGISTRATION)
    await fastify.register(inline.app as FastifyPluginAsync, { ...inline.appOptions })
    await fastify.register(finishClusterSetup)
    if (channel.launch.readinessPath !== false) addReadinessRoute(fastify, channel.launch.readinessPath, isUnderPressure)
    return { fastify, listen: { port: inline.port, host: inline.host } }
  })
}

