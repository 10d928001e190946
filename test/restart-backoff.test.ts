import t from 'tap'
import { restartDelay } from '../dist/lib/primary/backoff.js'
import { CrashLoopBreaker, decideRestart, isFatalBootError, isUnstableExit } from '../dist/lib/primary/crash-loop.js'

const settings = { initial: 100, max: 15_000 }
const fixed = (value: number) => () => value

t.test('restartDelay grows exponentially without jitter (random 0.5)', async (t) => {
  const delays = Array.from({ length: 10 }, (_, attempt) => restartDelay(attempt, settings, fixed(0.5)))
  t.same(delays, [100, 200, 400, 800, 1600, 3200, 6400, 12_800, 15_000, 15_000])
})

t.test('restartDelay is capped at max', async (t) => {
  t.equal(restartDelay(8, settings, fixed(0.5)), 15_000, 'the first attempt past the cap')
  t.equal(restartDelay(1000, settings, fixed(0.5)), 15_000, 'a huge attempt neither overflows nor exceeds the cap')
  t.equal(restartDelay(Number.MAX_SAFE_INTEGER, settings, fixed(0.5)), 15_000)
  t.equal(restartDelay(40, settings, fixed(1)), 15_000, 'upward jitter never passes the cap')
  t.equal(restartDelay(40, settings, fixed(0)), 12_000, 'downward jitter still applies at the cap')
  t.equal(restartDelay(3, { initial: 100, max: 500 }, fixed(0.5)), 500, 'a small cap')
  t.equal(restartDelay(0, { initial: 1000, max: 300 }, fixed(0.5)), 300, 'an initial above the cap is capped')
})

t.test('restartDelay jitter stays within ±20%', async (t) => {
  t.equal(restartDelay(0, settings, fixed(0)), 80, 'random 0 is -20%')
  t.equal(restartDelay(0, settings, fixed(1)), 120, 'random 1 is +20%')
  t.equal(restartDelay(3, settings, fixed(0)), 640)
  t.equal(restartDelay(3, settings, fixed(1)), 960)
  t.equal(restartDelay(3, settings, fixed(0.25)), 720, 'linear in random')
  for (let attempt = 0; attempt < 12; attempt++) {
    const base = Math.min(settings.max, settings.initial * 2 ** attempt)
    let outside = 0
    for (let i = 0; i <= 100; i++) {
      const d = restartDelay(attempt, settings, fixed(i / 100))
      if (d < Math.floor(base * 0.8) || d > Math.ceil(Math.min(settings.max, base * 1.2))) outside++
    }
    t.equal(outside, 0, `attempt ${attempt}: every delay within [0.8, 1.2] × ${base}, capped`)
  }
  t.equal(restartDelay(0, { initial: 3, max: 100 }, fixed(0)), 2, 'rounded to whole ms')
  t.ok(Number.isInteger(restartDelay(2, settings, fixed(0.3333))), 'always an integer')
})

t.test('restartDelay uses Math.random by default', async (t) => {
  const seen = new Set<number>()
  for (let i = 0; i < 50; i++) {
    const d = restartDelay(5, settings)
    t.ok(d >= 2560 && d <= 3840, `${d} within ±20% of 3200`)
    seen.add(d)
  }
  t.ok(seen.size > 1, 'the default random actually varies')
})

t.test('CrashLoopBreaker trips at the limit within the window', async (t) => {
  const breaker = new CrashLoopBreaker(3, 1000)
  t.equal(breaker.count(0), 0)
  t.equal(breaker.record(0), false, '1 of 3')
  t.equal(breaker.record(100), false, '2 of 3')
  t.equal(breaker.count(100), 2)
  t.equal(breaker.record(200), true, '3 of 3 trips')
  t.equal(breaker.count(200), 3)
  t.equal(breaker.record(300), true, 'stays tripped while the window is full')
})

t.test('CrashLoopBreaker: old exits slide out of the window', async (t) => {
  const breaker = new CrashLoopBreaker(3, 1000)
  breaker.record(0)
  breaker.record(500)
  t.equal(breaker.count(999), 2, 'both inside at 999')
  t.equal(breaker.count(1000), 1, 'an exit exactly one window old is out')
  t.equal(breaker.record(1000), false, 'so the third exit at 1000 does not trip')
  t.equal(breaker.record(1200), true, '500, 1000, 1200 are within 1000 ms: trips')
  t.equal(breaker.count(5000), 0, 'all slid out later')
  t.equal(breaker.record(5000), false, 'and it counts from scratch')

  const slow = new CrashLoopBreaker(2, 1000)
  let tripped = false
  for (let now = 0; now < 10_000; now += 1000) tripped ||= slow.record(now)
  t.equal(tripped, false, 'one exit per window never trips a limit of 2')

  const one = new CrashLoopBreaker(1, 1000)
  t.equal(one.record(0), true, 'a limit of 1 trips on the first exit')
})

t.test('CrashLoopBreakers do not share state', async (t) => {
  const a = new CrashLoopBreaker(2, 1000)
  const b = new CrashLoopBreaker(2, 1000)
  a.record(0)
  t.equal(b.count(0), 0)
  t.equal(b.record(1), false)
})

t.test('isUnstableExit', async (t) => {
  t.equal(isUnstableExit(null, 50_000, 10_000), true, 'never ready: unstable')
  t.equal(isUnstableExit(1000, 1000, 10_000), true, 'died at once')
  t.equal(isUnstableExit(1000, 10_999, 10_000), true, '1 ms short of stable')
  t.equal(isUnstableExit(1000, 11_000, 10_000), false, 'exactly stableUptime is stable')
  t.equal(isUnstableExit(1000, 100_000, 10_000), false, 'long-lived')
  t.equal(isUnstableExit(0, 0, 10_000), true, 'readyAt 0 is a time, not "never"')
})

t.test('isFatalBootError: by stage and whether any worker was ever ready, never by code', async (t) => {
  t.equal(isFatalBootError('load', false), true, 'the app file cannot load at first start')
  t.equal(isFatalBootError('listen', false), true, 'the port cannot be bound at first start')
  t.equal(isFatalBootError('boot', false), false, "the app's own boot: retried, the breaker decides")
  for (const stage of ['load', 'listen', 'boot'] as const) {
    t.equal(isFatalBootError(stage, true), false, `${stage} once a worker has served: never fatal`)
  }
})

t.test('decideRestart: the breaker rule', async (t) => {
  const backoff = { initial: 100, max: 15_000 }
  const half = (): number => 0.5
  const base = { exitAt: 10_000, stableUptime: 10_000, othersServing: false, attempt: 0 }
  t.same(decideRestart({ ...base, readyAt: 8000 }, backoff, half),
    { counts: true, resetBackoff: false, degraded: false, delay: 100 }, 'a crash 2 s after ready counts')
  t.same(decideRestart({ ...base, readyAt: 8000, othersServing: true, attempt: 3 }, backoff, half),
    { counts: true, resetBackoff: false, degraded: false, delay: 800 }, 'a crash counts even while others serve')
  t.same(decideRestart({ ...base, readyAt: 0 }, backoff, half),
    { counts: false, resetBackoff: true, degraded: false, delay: 100 }, 'after stableUptime: not counted, backoff reset')
  t.same(decideRestart({ ...base, readyAt: null }, backoff, half),
    { counts: true, resetBackoff: false, degraded: false, delay: 100 }, 'a boot failure with nobody serving counts')
  t.same(decideRestart({ ...base, readyAt: null, othersServing: true, attempt: 2 }, backoff, half),
    { counts: false, resetBackoff: false, degraded: true, delay: 15_000 }, 'a boot failure while others serve: degraded, at the ceiling')
})
