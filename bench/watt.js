'use strict'
/*
 * Platformatic Watt for the `watt` target, installed on first use into a directory of the OS temp dir (reused by
 * later runs), not a devDependency: wattpm and @platformatic/node are ~160 packages, need Node >= 22.19 (the
 * package supports 20), and serve one bench target. Returns the directory, or the reason the target cannot run
 * here (install failed, or the Node the targets run on is older than Watt's `engines`), which the report shows.
 */
const { execFile } = require('node:child_process')
const { existsSync, readFileSync } = require('node:fs')
const { tmpdir } = require('node:os')
const { join } = require('node:path')

const WATT_DIR = join(tmpdir(), 'fastify-cluster-bench-watt')
// The CLI (`wattpm start`) and the capability that runs a plain Node/Fastify app, same major.
const WATT_SPECS = ['wattpm@3', '@platformatic/node@3']

/**
 * Whether `version` ("v24.1.0") meets an engines range of the form ">=22.19.0"; null for a range of another form
 * (the target is then tried, and a start failure reported as the reason).
 */
function meetsNodeEngine (version, range) {
  const wanted = /^\s*>=\s*v?(\d+)(?:\.(\d+))?(?:\.(\d+))?\s*$/.exec(range ?? '')
  const have = /^v?(\d+)\.(\d+)\.(\d+)/.exec(version)
  if (wanted === null || have === null) return null
  for (let i = 1; i <= 3; i++) {
    const a = Number(have[i])
    const b = Number(wanted[i] ?? 0)
    if (a !== b) return a > b
  }
  return true
}

/** @returns {Promise<{ dir: string, version: string } | { reason: string }>} */
async function ensureWatt (nodeVersion, log = (message) => { process.stderr.write(`${message}\n`) }) {
  const manifest = join(WATT_DIR, 'node_modules', 'wattpm', 'package.json')
  const installed = () => existsSync(manifest) && existsSync(join(WATT_DIR, 'node_modules', '@platformatic', 'node', 'package.json'))
  if (!installed()) {
    log(`bench: installing ${WATT_SPECS.join(' ')} into ${WATT_DIR} for the watt target (once; a minute or so)`)
    const failure = await new Promise((resolve) => {
      execFile('npm', ['install', '--prefix', WATT_DIR, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', ...WATT_SPECS],
        { timeout: 600_000 }, (err, _stdout, stderr) => {
          resolve(err === null && installed() ? null : (stderr || String(err)).trim().split('\n').slice(-1)[0])
        })
    })
    if (failure !== null) return { reason: `could not install ${WATT_SPECS.join(' ')} into ${WATT_DIR}: ${failure}` }
  }
  const pkg = JSON.parse(readFileSync(manifest, 'utf8'))
  if (meetsNodeEngine(nodeVersion, pkg.engines?.node) === false) {
    return { reason: `wattpm ${pkg.version} needs Node ${pkg.engines.node}; the targets run on ${nodeVersion} (--node)` }
  }
  log(`bench: watt target: wattpm ${pkg.version} from ${WATT_DIR}`)
  return { dir: WATT_DIR, version: pkg.version }
}

module.exports = { WATT_DIR, WATT_SPECS, ensureWatt, meetsNodeEngine }
