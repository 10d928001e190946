import t from 'tap'
import { importsOf, sourceFiles } from './helpers/source-files'

/** Every relative import (type-only ones included: they tie modules together for a reader as much as any). */
function graph (): Map<string, string[]> {
  return new Map(sourceFiles().map((file) => [file, importsOf(file).local]))
}

function findCycle (edges: Map<string, string[]>): string[] | null {
  const state = new Map<string, 'open' | 'done'>()
  const path: string[] = []
  const visit = (node: string): string[] | null => {
    if (state.get(node) === 'done') return null
    if (state.get(node) === 'open') return [...path.slice(path.indexOf(node)), node]
    state.set(node, 'open')
    path.push(node)
    for (const next of edges.get(node) ?? []) {
      const cycle = visit(next)
      if (cycle !== null) return cycle
    }
    path.pop()
    state.set(node, 'done')
    return null
  }
  for (const node of edges.keys()) {
    const cycle = visit(node)
    if (cycle !== null) return cycle
  }
  return null
}

t.test('no import cycle among lib/ and plugin/ modules', async (t) => {
  const edges = graph()
  t.ok(edges.size > 20, `read the modules (${edges.size})`)
  t.ok(edges.get('lib/primary/supervisor.ts')?.includes('lib/primary/worker-lifecycle.ts'), 'the graph sees imports')
  const cycle = findCycle(edges)
  t.equal(cycle, null, cycle === null ? 'acyclic' : `cycle: ${cycle.join(' -> ')}`)
})

t.test('the cycle finder finds a cycle', async (t) => {
  t.same(findCycle(new Map([['a', ['b']], ['b', ['c']], ['c', ['a']]])), ['a', 'b', 'c', 'a'])
})
