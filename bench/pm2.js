'use strict'
/*
 * PM2 for the `pm2` target, installed on first use into a directory of the OS temp dir (reused by later runs),
 * not a devDependency: it is ~80 packages that every contributor's `npm ci` would fetch for one bench target.
 * Returns the directory, or the reason it is unavailable (offline, npm failed), which the report shows.
 */
const { execFile } = require('node:child_process')
const { existsSync } = require('node:fs')
const { tmpdir } = require('node:os')
const { join } = require('node:path')

const PM2_DIR = join(tmpdir(), 'fastify-cluster-bench-pm2')
const PM2_SPEC = 'pm2@7'

/** @returns {Promise<{ dir: string } | { reason: string }>} */
async function ensurePm2 (log = (message) => { process.stderr.write(`${message}\n`) }) {
  const runtime = join(PM2_DIR, 'node_modules', 'pm2', 'bin', 'pm2-runtime')
  if (existsSync(runtime)) return { dir: PM2_DIR }
  log(`bench: installing ${PM2_SPEC} into ${PM2_DIR} for the pm2 target (once; a few minutes)`)
  return await new Promise((resolve) => {
    execFile('npm', ['install', '--prefix', PM2_DIR, '--no-save', '--no-package-lock', '--no-audit', '--no-fund', PM2_SPEC],
      { timeout: 600_000 }, (err, _stdout, stderr) => {
        if (err === null && existsSync(runtime)) resolve({ dir: PM2_DIR })
        else resolve({ reason: `could not install ${PM2_SPEC} into ${PM2_DIR}: ${(stderr || String(err)).trim().split('\n').slice(-1)[0]}` })
      })
  })
}

module.exports = { PM2_DIR, ensurePm2 }
