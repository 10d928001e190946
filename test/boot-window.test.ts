import { availableParallelism } from 'node:os'
import t from 'tap'
import { ClusterProcess, FIXTURES, type LogLine, request } from './helpers/cluster-process'

// The primary boots at most max(4, 2 x cores) workers at once at first start (boots are CPU-bound: all at once,
// they all finish late, past startupTimeout on a busy host).
const WINDOW = Math.max(4, 2 * availableParallelism())
const WORKERS = WINDOW + 3
// On a big machine the window is wide: the test would fork dozens of workers to see it.
const skip = WINDOW > 16 ? `${availableParallelism()} cores: the boot window (${WINDOW}) is too wide to test here` : false

/** The most workers booting at the same moment (forked, not yet ready or exited), from the primary's log order. */
function mostBooting (lines: LogLine[]): number {
  const booting = new Set<number>()
  let most = 0
  for (const l of lines) {
    if (l.event === 'worker:fork') booting.add(l.id as number)
    else if (l.event === 'worker:ready' || l.event === 'worker:exit') booting.delete(l.id as number)
    most = Math.max(most, booting.size)
  }
  return most
}

const ways = [
  { name: 'an app file (CLI)', start: (tt: Parameters<typeof ClusterProcess.cli>[0]) => ClusterProcess.cli(tt, ['start', '--workers', String(WORKERS), '-p', '0', '-a', '127.0.0.1', `${FIXTURES}/slow-boot.js`], { env: { FIXTURE_BOOT_MS: '400' } }) },
  { name: 'an inline app (start({ app }))', start: (tt: Parameters<typeof ClusterProcess.cli>[0]) => ClusterProcess.node(tt, [`${FIXTURES}/slow-boot.js`], { env: { FIXTURE_BOOT_MS: '400', FIXTURE_WORKERS: String(WORKERS) } }) }
]

for (const way of ways) {
  t.test(`${way.name}: ${WORKERS} workers boot at most ${WINDOW} at a time, and all of them serve`, { skip }, async (t) => {
    const cluster = way.start(t)
    const port = await cluster.ready(120_000)
    t.equal(cluster.events('worker:ready').length, WORKERS, 'every slot got a ready worker')
    t.equal(cluster.events('worker:fork').length, WORKERS, 'one fork per slot: nothing failed')
    const most = mostBooting(cluster.lines)
    t.ok(most <= WINDOW, `at most ${WINDOW} booting at once (saw ${most})`)
    // Boots still overlap: the window is not one at a time (each boot waits 400 ms, so a full window is reached).
    t.ok(most >= 2, `boots overlap (saw ${most} at once)`)
    t.equal((await request(port, '/')).status, 200)
    cluster.child.kill('SIGTERM')
    t.equal((await cluster.exit(30_000)).code, 0)
  })
}
