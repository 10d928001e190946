import t from 'tap'
import { ClusterProcess, FIXTURES, request } from './helpers/cluster-process'

// A real prom-client counter, histogram and gauges in each of 3 workers; /metrics on the health server and the
// app port's clusterMetrics route show the cluster-wide aggregate; a blocked worker does not stall the scrape.
const app = `${FIXTURES}/app-metrics.js`
const WORKERS = 3
const METRICS_TIMEOUT = 1000

/** The value of one sample line (`name{labels} value`), or undefined. */
function sample (body: string, series: string): number | undefined {
  const line = body.split('\n').find((l) => l.startsWith(`${series} `))
  return line === undefined ? undefined : Number(line.slice(series.length + 1))
}

async function timed<T> (fn: () => Promise<T>): Promise<{ value: T, ms: number }> {
  const started = performance.now()
  const value = await fn()
  return { value, ms: Math.round(performance.now() - started) }
}

t.test('the scrape sums every worker, and answers within metricsTimeout while one worker is blocked', async (t) => {
  const cluster = ClusterProcess.cli(t, ['start', '--workers', String(WORKERS), '-p', '0', '-a', '127.0.0.1', '--health-port', '0',
    '--metrics-timeout', `${METRICS_TIMEOUT}ms`, '--heartbeat-timeout', '120s', app])
  const port = await cluster.ready(60_000)
  const health = await cluster.healthPort()

  // Fresh connections: round-robin spreads the hits; each answer carries that worker's own count.
  const counts = new Map<number, number>()
  let hits = 0
  for (let i = 0; i < 30 || counts.size < WORKERS; i++) {
    const res = JSON.parse((await request(port, '/hit')).body) as { pid: number, count: number }
    counts.set(res.pid, res.count)
    hits++
    if (i > 300) break
  }
  t.equal(counts.size, WORKERS, `hits landed on all ${WORKERS} workers: ${JSON.stringify([...counts])}`)

  const scrape = await timed(async () => await request(health, '/metrics'))
  const body = scrape.value.body
  t.equal(scrape.value.status, 200)
  t.match(scrape.value.headers['content-type'], /^text\/plain; version=0\.0\.4/)
  t.equal(sample(body, 'app_hits_total{route="hit"}'), hits, `the counter is the sum over the workers (${hits})`)
  t.equal(sample(body, 'app_hit_seconds_count'), hits, 'histogram count summed')
  t.equal(sample(body, 'app_hit_seconds_bucket{le="1"}'), hits, 'histogram buckets summed')
  t.equal(sample(body, 'app_hit_seconds_sum'), hits * 0.5, 'histogram sum summed')
  t.equal(sample(body, 'app_workers_up'), WORKERS, 'a gauge with the default aggregator (sum)')
  t.equal(sample(body, 'app_highest_slot'), WORKERS - 1, 'a gauge with aggregator "max"')
  t.equal(sample(body, 'fastify_cluster_metrics_missing_workers'), 0, 'no worker missing')
  t.equal(sample(body, 'fastify_cluster_workers{state="ready"}'), WORKERS, "the cluster's own metrics are there too")
  t.equal(body.split('\n').filter((l) => l === '# TYPE fastify_cluster_workers gauge').length, 1,
    "the app's fastify_cluster_workers is left out: no duplicate name")
  t.match(body, "# fastify-cluster: left out the app's metric fastify_cluster_workers")
  const names = body.split('\n').filter((l) => l.startsWith('# TYPE ')).map((l) => l.split(' ')[2])
  t.equal(new Set(names).size, names.length, 'every metric name once')
  t.comment(`scrape with ${WORKERS} healthy workers: ${scrape.ms} ms`)

  // The app port: the same aggregate of the app's metrics, without the cluster's own (which name pids).
  const onApp = await request(port, '/cluster-metrics')
  t.equal(onApp.status, 200)
  t.equal(sample(onApp.body, 'app_hits_total{route="hit"}'), hits, 'the app port serves the sum too')
  t.equal(sample(onApp.body, 'fastify_cluster_metrics_missing_workers'), 0)
  t.notMatch(onApp.body, /fastify_cluster_worker_rss_bytes|fastify_cluster_workers\{/, "no cluster metrics on the app port")

  // Block one worker's event loop for good (the heartbeat timeout is long, so it stays).
  request(port, '/block', { timeout: 120_000 }).catch(() => {})
  let blocked: { ms: number, body: string } | null = null
  const deadline = Date.now() + 30_000
  while (Date.now() < deadline) {
    const { value, ms } = await timed(async () => await request(health, '/metrics'))
    if (sample(value.body, 'fastify_cluster_metrics_missing_workers') === 1) {
      blocked = { ms, body: value.body }
      break
    }
  }
  if (blocked === null) throw new Error('no scrape reported the blocked worker missing within 30 s')
  const missing = /# fastify-cluster: worker \d+ \(pid (\d+), slot \d+\) is missing: no answer within 1000 ms/.exec(blocked.body)
  t.ok(missing, 'a comment line names the missing worker')
  const pid = Number(missing?.[1])
  t.ok(counts.has(pid), 'the missing worker is one of ours')
  t.equal(sample(blocked.body, 'app_hits_total{route="hit"}'), hits,
    "the counter does not go down: the blocked worker's counts as of its last answer are carried")
  t.equal(sample(blocked.body, 'app_hit_seconds_count'), hits, 'histograms too')
  t.equal(sample(blocked.body, 'app_workers_up'), WORKERS - 1, 'gauges are not carried: only the workers that answered')
  t.ok(blocked.ms >= METRICS_TIMEOUT - 50, `the scrape waited for the bound (${blocked.ms} ms)`)
  t.ok(blocked.ms < METRICS_TIMEOUT + 2000, `and answered soon after it: ${blocked.ms} ms`)
  t.equal(sample(blocked.body, 'fastify_cluster_workers{state="ready"}'), WORKERS, 'still counted ready: only its metrics are missing')
  const collect = sample(blocked.body, 'fastify_cluster_metrics_collect_seconds') ?? 0
  t.ok(collect >= METRICS_TIMEOUT / 1000 - 0.05 && collect < METRICS_TIMEOUT / 1000 + 1, `collect_seconds says so (${collect})`)
  t.comment(`scrape with 1 of ${WORKERS} workers blocked: ${blocked.ms} ms (metricsTimeout ${METRICS_TIMEOUT} ms)`)

  // Scrapes that overlap share one collection round: two at once take about one bound, not two.
  const [a, b] = await Promise.all([timed(async () => await request(health, '/metrics')), timed(async () => await request(health, '/metrics'))])
  t.ok(Math.max(a.ms, b.ms) < 2 * METRICS_TIMEOUT + 1000, `two concurrent scrapes: ${a.ms} ms and ${b.ms} ms`)

  // The app port answers too, from a worker that is not the blocked one (round-robin may hand us the blocked one).
  let fromApp: { ms: number, body: string } | null = null
  for (let i = 0; i < WORKERS * 2 && fromApp === null; i++) {
    const attempt = await timed(async () => await request(port, '/cluster-metrics', { timeout: 5000 })).catch(() => null)
    if (attempt !== null) fromApp = { ms: attempt.ms, body: attempt.value.body }
  }
  if (fromApp === null) throw new Error('no worker answered /cluster-metrics')
  t.equal(sample(fromApp.body, 'fastify_cluster_metrics_missing_workers'), 1, 'the app port reports the missing worker too')
  t.ok(fromApp.ms < METRICS_TIMEOUT + 2000, `app port aggregate with a blocked worker: ${fromApp.ms} ms`)
  t.comment(`app-port aggregate with 1 of ${WORKERS} workers blocked: ${fromApp.ms} ms`)

  // The blocked worker is killed and replaced: its counts stay in the sum (a counter reset would make rate()
  // count every other worker's total again), and the replacement counts from 0 on top.
  const readyBefore = cluster.events('worker:ready').length
  process.kill(pid, 'SIGKILL')
  await cluster.waitForEvent('worker:exit', 15_000, (l) => l.pid === pid)
  await cluster.waitForCount('worker:ready', readyBefore + 1, 60_000)
  const after = (await request(health, '/metrics')).body
  t.equal(sample(after, 'fastify_cluster_metrics_missing_workers'), 0, 'the replacement answers')
  t.equal(sample(after, 'app_hits_total{route="hit"}'), hits, 'the killed worker\'s hits are still counted, once')
  t.equal(sample(after, 'app_workers_up'), WORKERS, 'and the gauge is back to one per worker')
})
