import t from 'tap'
import { ClusterProcess, FIXTURES, request, type Response } from './helpers/cluster-process'

t.test("the app's own under-pressure thresholds apply in cluster workers (load shedding and the readiness route)", async (t) => {
  const cluster = ClusterProcess.cli(t, ['start', '--workers', '2', '-p', '0', '-a', '127.0.0.1', '--sample-interval', '100ms',
    `${FIXTURES}/sheds-load.js`])
  const port = await cluster.ready()
  // under-pressure decides at each of its samples: poll (bounded) until both workers shed.
  const deadline = Date.now() + 10_000
  let shed: Response | null = null
  let shedCount = 0
  while (shedCount < 6 && Date.now() < deadline) {
    const res = await request(port, '/')
    if (res.status === 503) { shed = res; shedCount++ } else shedCount = 0
  }
  t.equal(shed?.status, 503, 'requests are shed with 503 by the app\'s thresholds')
  t.equal(shed?.headers['retry-after'], '7', 'with its Retry-After')
  const readiness = await request(port, '/health')
  t.equal(readiness.status, 503)
  t.same(JSON.parse(readiness.body), { status: 'under pressure' }, 'the readiness route says why')
  t.equal(cluster.events('worker:exit').length, 0, 'shedding load is not a reason to replace a worker')
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(15_000)).code, 0)
})
