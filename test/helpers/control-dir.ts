/*
 * A private $XDG_RUNTIME_DIR per test, so the clusters a test starts are the only ones its commands see (other
 * tests and other users of the machine run clusters too).
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

interface Test { teardown: (fn: () => void | Promise<void>) => void }

/** The env that points control sockets at a fresh private directory, removed after the test. */
export function privateControlEnv (t: Test): { XDG_RUNTIME_DIR: string, dir: string } {
  // Short: a Unix socket path is at most ~104 bytes.
  const base = mkdtempSync(join(tmpdir(), 'fc-'))
  t.teardown(() => { rmSync(base, { recursive: true, force: true }) })
  return { XDG_RUNTIME_DIR: base, dir: join(base, `fastify-cluster-${process.getuid?.() ?? 0}`) }
}
