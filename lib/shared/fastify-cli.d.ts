// fastify-cli ships no types for the modules we reuse; these describe the parts we call.
declare module 'fastify-cli/args.js' {
  interface ParsedStartArgs {
    _: string[]
    port?: number | string
    address?: string
    socket?: string
    logLevel: string
    prettyLogs?: boolean
    options?: boolean
    watch?: boolean
    /** fastify-cli's default ignore list plus --ignore-watch, space-separated patterns. */
    ignoreWatch?: string
    followWatch?: string
    verboseWatch?: boolean
    debug?: boolean
    bodyLimit?: number | string
    pluginTimeout: number | string
    closeGraceDelay: number | string
    pluginOptions: Record<string, unknown>
    require?: string | string[]
    import?: string | string[]
    prefix?: string
    loggingModule?: string
    trustProxy?: unknown
    help?: boolean
  }
  function parseArgs (args: string[]): ParsedStartArgs
  export = parseArgs
}

declare module 'fastify-cli/util.js' {
  export function requireModule (name: string): unknown
  export function requireESModule (name: string): Promise<unknown>
  export function requireModuleDefaultExport (name: string): Promise<unknown>
  export function requireFastifyForModule (path: string): { module: typeof import('fastify').default }
  export function requireServerPluginFromPath (path: string): Promise<Record<string, unknown> & { default?: unknown }>
  export function isKubernetes (): boolean
}

declare module 'fastify-cli/lib/watch/utils.js' {
  /** fastify-cli's --ignore-watch rule: the patterns joined as one alternation, a leading dot escaped. */
  export function arrayToRegExp (patterns: string[]): RegExp
}
