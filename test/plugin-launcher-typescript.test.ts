import t from 'tap'
import { join } from 'node:path'
import { ClusterProcess, FIXTURES, assertGone } from './helpers/cluster-process'
import { fixtureLines, pidsAnswering } from './helpers/plugin-launcher'

const stripsTypes = (process.features as { typescript?: string }).typescript !== undefined

t.test('node server.mts with type annotations (Node strips the types): the workers re-run the file', { skip: stripsTypes ? false : `Node ${process.versions.node} does not run .ts files` }, async (t) => {
  const cluster = ClusterProcess.node(t, [join(FIXTURES, 'plugin-launcher', 'server-typed.mts')], { env: { NODE_NO_WARNINGS: '1' } })
  const listening = await cluster.waitFor((l) => l.step === 'listening', 30_000, 'listen() to resolve in the primary')
  const port = Number(new URL(listening.address as string).port)
  const pids = await pidsAnswering(port, 2)
  t.same([...pids].sort(), [...(listening.workers as number[])].sort(), 'both workers answer')
  cluster.child.kill('SIGTERM')
  t.equal((await cluster.exit(30_000)).code, 0)
  t.equal(fixtureLines(cluster, 'onClose').length, 3, 'two workers and the primary closed')
  await assertGone(cluster.forkedPids(), 5000)
})
