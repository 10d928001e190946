/**
 * `start --watch`: watches the app's directory as `fastify start --watch` does (chokidar, fastify-cli's ignore list
 * and pattern rules, `--ignore-watch`, `--follow-watch`, `--verbose-watch`), and turns each burst of changes into
 * one rolling reload instead of a cold restart.
 */
import { relative } from 'node:path'
import type { Logger } from 'pino'

/** What to watch, as fastify-cli resolves it from the `fastify start` arguments. */
export interface WatchSettings {
  dir: string
  ignored: RegExp
  verbose: boolean
}

/** Editors write a file in several steps: changes this close together make one reload. */
export const WATCH_DEBOUNCE_MS = 300

/**
 * Reads the watch flags with fastify-cli's own parser (flags, `FASTIFY_*` env vars, `-c` config file); `null`
 * when `--watch` is off.
 */
export async function watchSettings (fastifyArgs: readonly string[], cwd: string = process.cwd()): Promise<WatchSettings | null> {
  const { default: parseArgs } = await import('fastify-cli/args.js')
  const opts = parseArgs([...fastifyArgs])
  if (opts.watch !== true) return null
  const { arrayToRegExp } = await import('fastify-cli/lib/watch/utils.js')
  const patterns = (opts.ignoreWatch ?? '').split(' ').map((p) => p.trim()).filter((p) => p.length > 0)
  return {
    dir: opts.followWatch !== undefined && opts.followWatch !== '' ? opts.followWatch : cwd,
    ignored: arrayToRegExp(patterns),
    verbose: opts.verboseWatch === true
  }
}

/** Watches `settings.dir` and calls `onChange` once per burst of changes, after chokidar's initial scan. */
export class FileWatcher {
  readonly #settings: WatchSettings
  readonly #onChange: (paths: string[]) => void
  readonly #log: Logger
  #watcher: { close: () => Promise<void> } | null = null
  #timer: NodeJS.Timeout | null = null
  #pending: string[] = []
  #closed = false

  constructor (settings: WatchSettings, onChange: (paths: string[]) => void, log: Logger) {
    this.#settings = settings
    this.#onChange = onChange
    this.#log = log
  }

  /** Resolves once the initial scan is done: changes from then on trigger reloads. */
  async start (): Promise<void> {
    const { watch } = await import('chokidar')
    if (this.#closed) return
    const watcher = watch(this.#settings.dir, { ignored: this.#settings.ignored, ignoreInitial: true })
    this.#watcher = watcher
    await new Promise<void>((resolve, reject) => {
      watcher.once('ready', resolve)
      watcher.once('error', reject)
    })
    watcher.on('all', (event: string, path: string) => { this.#changed(event, path) })
    watcher.on('error', (err: unknown) => { this.#log.error({ event: 'watch:error', err }, 'file watcher error') })
    this.#log.info({ event: 'watch:start', dir: this.#settings.dir, ignored: String(this.#settings.ignored) },
      'watching for changes: a change reloads the workers one by one')
  }

  #changed (event: string, path: string): void {
    if (this.#closed) return
    const file = relative(process.cwd(), path)
    if (this.#settings.verbose) this.#log.info({ event: 'watch:change', change: event, file }, `${event} ${file}`)
    this.#pending.push(file)
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = setTimeout(() => {
      this.#timer = null
      const paths = this.#pending.splice(0)
      this.#onChange(paths)
    }, WATCH_DEBOUNCE_MS)
    this.#timer.unref()
  }

  async close (): Promise<void> {
    this.#closed = true
    if (this.#timer !== null) clearTimeout(this.#timer)
    this.#timer = null
    await this.#watcher?.close()
    this.#watcher = null
  }
}
