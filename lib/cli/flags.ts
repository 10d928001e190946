import { FASTIFY_FLAGS, type FlagSpec } from '../shared/fastify-cli-flags.js'
import { OPTIONS, OPTION_KEYS, type ClusterOptions, type OptionSpec } from '../shared/options.js'

export { FASTIFY_FLAGS, type FlagSpec }

/** A cluster flag: it sets a `start()` option. */
export interface ClusterFlagSpec extends FlagSpec {
  option: keyof ClusterOptions
  /** Turns the flag's text into the option's value, where it is not the text itself. */
  fromFlag?: (raw: string | boolean) => unknown
  /** The flag sets its boolean option to false (`--no-control`); its env var keeps the option's own sense. */
  negate?: true
}

/** The default as --help shows it: the docs' cell without Markdown. */
function plainDefault (markdown: string): string | undefined {
  if (markdown === '') return undefined
  return markdown.replace(/`"([^"`]*)"`/g, '$1').replace(/`/g, '')
}

/** Flags of the cluster itself, derived from the option specs; they resolve through `resolveOptions()`. */
export const CLUSTER_FLAGS: readonly ClusterFlagSpec[] = OPTION_KEYS.flatMap((key) => {
  const spec = OPTIONS[key] as OptionSpec<unknown, unknown>
  if (spec.cli === undefined) return []
  const shown = spec.cli.shownDefault ?? plainDefault(spec.docs.default)
  return [{
    name: spec.cli.flag,
    type: spec.cli.boolean === true ? 'boolean' : 'string',
    env: [spec.cli.env],
    description: spec.cli.help,
    option: key,
    ...(shown === undefined ? {} : { default: shown }),
    ...(spec.cli.fromFlag === undefined ? {} : { fromFlag: spec.cli.fromFlag }),
    ...(spec.cli.negate === undefined ? {} : { negate: spec.cli.negate })
  } satisfies ClusterFlagSpec]
})

export const ALL_FLAGS: ReadonlyArray<FlagSpec | ClusterFlagSpec> = [...FASTIFY_FLAGS, ...CLUSTER_FLAGS]

function row (flag: FlagSpec): string {
  const names = `${flag.short === undefined ? '    ' : `-${flag.short}, `}--${flag.name}${flag.type === 'string' ? ' <value>' : ''}`
  const extras = [
    flag.env === undefined ? '' : `env: ${flag.env.join(' or ')}`,
    flag.default === undefined ? '' : `default: ${flag.default}`
  ].filter((s) => s !== '').join('; ')
  return `  ${names}\n      ${flag.description}${extras === '' ? '' : ` [${extras}]`}`
}

/** The text of `fastify-cluster start --help`. */
export function startHelp (): string {
  return [
    'Usage: fastify-cluster start [options] <app-file> [--] [<plugin-options>]',
    '',
    'Runs a Fastify app (fastify-cli format) on several worker processes and keeps them healthy.',
    'Durations take ms or a unit ("500ms", "10s", "2m"). Options after -- are passed to the app plugin.',
    '',
    'Cluster options:',
    ...CLUSTER_FLAGS.map(row),
    '',
    'fastify start options (fastify-cli 8, same meaning):',
    ...FASTIFY_FLAGS.map(row),
    '',
    'Signals: SIGTERM or SIGINT drains every worker and exits 0 (1 if a worker had to be killed);',
    'a second signal kills the workers and exits 1. SIGUSR2 reloads the workers one by one (rolling reload).',
    'SIGHUP stops the cluster like SIGTERM when a standard stream is a terminal (closing the terminal), and',
    'reloads otherwise (systemd ExecReload=kill -HUP $MAINPID).',
    '',
    'Control: each cluster opens a socket (owner-only, under $XDG_RUNTIME_DIR or the temp directory) for',
    'fastify-cluster ls, status, reload and stop; --no-control turns it off.',
    '',
    'Examples:',
    '  fastify-cluster start --workers 4 -p 8080 app.js',
    '  FASTIFY_WORKERS=max fastify-cluster start --drain-delay 5s app.js -- --my-plugin-option 1',
    ''
  ].join('\n')
}

/** The text of `fastify-cluster --help`. */
export function mainHelp (): string {
  return [
    'Usage: fastify-cluster <command> [options]',
    '',
    'Commands:',
    '  start <app-file>   run the app on several workers (fastify-cluster start --help for options)',
    "  ls                 list this user's running clusters (--json)",
    "  status [name|pid]  show a cluster's workers (--json, --watch; --url for a health server)",
    '  reload [name|pid]  rolling reload; waits, prints old -> new pid per slot; exit 1 if it stopped',
    '  stop [name|pid]    graceful stop; waits for the exit and returns its code',
    '  help, -h           show this help',
    '  --version, -v      print the version',
    '',
    'The name or pid may be left out when exactly one cluster of this user runs.',
    'Exit codes: 0 done; 1 failed (bad input, reload stopped, cluster unreachable); 3 no such cluster;',
    "stop returns the cluster's own exit code. Details: docs/control.md",
    ''
  ].join('\n')
}
