/*
 * The cluster options given to `register(clusterPlugin, { workers, ... })`, in every process: the primary launches
 * with them (lib/primary/plugin-primary.ts), a worker checks them the same way. Kept apart from the launcher so that
 * workers do not load it.
 */
import { FST_CLUSTER_CONFLICTING_OPTIONS } from './errors.js'
import { resolveOptions, type ClusterOptions } from './options.js'

/** An inline app resolveOptions accepts, never run: in this door the workers run the user's own script. */
function scriptApp (): never {
  throw new Error('fastify-cluster: the plugin launcher runs the entry script in workers, not an inline app')
}

/** Options that describe the app, which the app's own code already sets in this door. */
const APP_KEYS: Readonly<Record<string, string>> = {
  app: 'the app is this script',
  appFile: 'the app is this script',
  fastifyArgs: 'the app is this script',
  appOptions: 'the app is this script',
  serverOptions: 'pass server options to Fastify()',
  port: 'pass the port to listen()',
  host: 'pass the host to listen()'
}

/**
 * The options as `start()` takes them (refusing those describing the app), for the same resolver and errors as
 * `start()`: an inline app that is never run stands for this script.
 */
export function checkPluginClusterOptions (options: Record<string, unknown>): ClusterOptions {
  for (const key of Object.keys(options)) {
    const where = APP_KEYS[key]
    if (where !== undefined) {
      throw new FST_CLUSTER_CONFLICTING_OPTIONS(`${key} is not a register(clusterPlugin) option: ${where}`)
    }
  }
  // Port 0 keeps resolveOptions' checks that compare with the inline app's port (healthPort) out of the way:
  // listen() checks the real port.
  return { ...options, app: scriptApp, port: 0 } as ClusterOptions
}

/** Validates like the primary would (same resolver, same errors), in a process that launches nothing. */
export function checkClusterOptions (options: Record<string, unknown>): void {
  resolveOptions(checkPluginClusterOptions(options), {}, process.env)
}
