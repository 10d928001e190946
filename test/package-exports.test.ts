import t from 'tap'
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

const root = join(__dirname, '..')
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'))
// Resolve as a consumer would: by package name, from the project root, through the `exports` map.
const requireFromRoot = createRequire(join(root, 'package.json'))
// This file is compiled to CommonJS, where `import()` would become `require()`; keep a real dynamic import.
const importESM = new Function('specifier', 'return import(specifier)') as (specifier: string) => Promise<Record<string, unknown>>

t.test('the exports map points at files that exist', async (t) => {
  t.equal(pkg.name, 'fastify-cluster')
  const dot = pkg.exports['.']
  for (const path of [dot.import.types, dot.import.default, dot.require.types, dot.require.default, pkg.main, pkg.types]) {
    t.ok(existsSync(join(root, path)), `${path} exists (run npm run build first)`)
  }
  t.equal(requireFromRoot.resolve('fastify-cluster'), join(root, dot.require.default), 'require resolves to exports["."].require')
  t.equal(requireFromRoot('fastify-cluster/package.json').name, 'fastify-cluster', './package.json is exported')
  t.throws(() => requireFromRoot('fastify-cluster/dist/lib/shared/units.js'), { code: 'ERR_PACKAGE_PATH_NOT_EXPORTED' },
    'internals are not exported')
})

t.test('require() and import() give the same API', async (t) => {
  const cjs = requireFromRoot('fastify-cluster') as Record<string, unknown>
  const esm = await importESM('fastify-cluster')
  const esmFile = await importESM(pathToFileURL(join(root, pkg.exports['.'].import.default)).href)
  t.equal(esm, esmFile, 'import("fastify-cluster") loaded exports["."].import')
  t.equal(Object.prototype.toString.call(esm), '[object Module]', 'a real ES module namespace')

  t.same(Object.keys(esm).sort(), Object.keys(cjs).sort(), 'the same named exports')
  for (const key of Object.keys(cjs)) {
    t.equal(esm[key], cjs[key], `${key} is the same object both ways`)
  }
  for (const key of ['fastifyCluster', 'clusterPlugin', 'start', 'resolveOptions', 'DEFAULTS', 'ClusterEvents',
    'MessageTypes', 'PROTOCOL_NAMESPACE', 'PROTOCOL_VERSION', 'errorCodes', 'default']) {
    t.ok(key in esm, `exports ${key}`)
  }
})

t.test('the default export is the Fastify plugin, and start is a function', async (t) => {
  const cjs = requireFromRoot('fastify-cluster') as Record<string, unknown>
  const esm = await importESM('fastify-cluster')
  const plugin = esm.default as Record<symbol, unknown>
  t.type(plugin, 'function')
  t.equal(plugin, esm.fastifyCluster, 'default is fastifyCluster')
  t.equal(plugin, esm.clusterPlugin, 'clusterPlugin is an alias')
  t.equal(cjs.default, cjs.fastifyCluster, 'the same in CommonJS')
  t.equal(plugin[Symbol.for('skip-override')], true, 'wrapped with fastify-plugin (not encapsulated)')
  t.match(plugin[Symbol.for('plugin-meta')], { name: 'fastify-cluster' }, 'named for fastify-plugin')
  t.type(esm.start, 'function')
  t.type(esm.resolveOptions, 'function')
})
