'use strict'
/*
 * Other Node majors for the bench (`reusePort` in cluster workers needs >= 22.12; the per-request goal is judged on
 * 20 and 24), installed on first use from the npm registry's `node` package into a directory of the OS temp dir
 * (reused by later runs), like PM2: never a devDependency, never a global install.
 * Returns the binary, or the reason it is unavailable (offline, npm failed), which the report shows.
 */
const { execFile } = require('node:child_process')
const { existsSync, mkdirSync } = require('node:fs')
const { tmpdir } = require('node:os')
const { join } = require('node:path')

/** @returns {Promise<{ node: string } | { reason: string }>} */
async function ensureNode (major, log = (message) => { process.stderr.write(`${message}\n`) }) {
  if (process.versions.node.split('.')[0] === String(major)) return { node: process.execPath }
  const dir = join(tmpdir(), `fastify-cluster-bench-node${major}`)
  const bin = join(dir, 'node_modules', 'node', 'bin', 'node')
  if (existsSync(bin)) return { node: bin }
  log(`bench: installing node@${major} into ${dir} (once)`)
  const npm = (args) => new Promise((resolve) => {
    execFile('npm', args, { cwd: dir, timeout: 600_000 }, (err, _stdout, stderr) => { resolve(err === null ? null : (stderr || String(err))) })
  })
  mkdirSync(dir, { recursive: true })
  let err = await npm(['install', '--prefix', dir, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', `node@${major}`])
  // npm may hold install scripts back: the package's own script fetches the platform binary.
  if (err === null && !existsSync(bin)) {
    const script = join(dir, 'node_modules', 'node', 'installArchSpecificPackage.js')
    if (existsSync(script)) {
      err = await new Promise((resolve) => {
        execFile(process.execPath, [script], { cwd: join(dir, 'node_modules', 'node'), timeout: 600_000 },
          (e, _o, stderr) => { resolve(e === null ? null : (stderr || String(e))) })
      })
    }
  }
  if (err === null && existsSync(bin)) return { node: bin }
  return { reason: `could not install node@${major} into ${dir}: ${String(err ?? 'no binary after install').trim().split('\n').slice(-1)[0]}` }
}

module.exports = { ensureNode }
