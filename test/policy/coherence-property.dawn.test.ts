// Property: with every policy switched on and tuned to act often (density
// prefetch over 4-page blocks, thrashing found after two hand-overs and held
// for good), random sequences of host writes and reads, writable views,
// declared and demand-paged dispatches, prefetches both ways (some with a
// host write landing while their first copy is in flight), advice, pins and
// unpins, through a pool a third the size of the data, read exactly what a
// plain ArrayBuffer given the same operations holds — and the page table's
// invariants hold after every step. The write-through paths (advice, holds)
// and prefetch races are where a policy could make the runtime incoherent.
// HMM_PROP_RUNS / HMM_PROP_SEED run more or other sequences (1,500 runs of
// three seeds, and 600 with races, passed when this was written).

import fc from 'fast-check';
import { expect } from 'vitest';
import { testWithDevice, KiB } from '../helpers/gpu.ts';
import { affine, makeSpace, poolImpl, u32 } from '../helpers/space.ts';
import { PinLimitError, type Advice, type Pool } from '../../src/index.ts';

const PS = 4 * KiB;
const PAGES = 24; // page 0 holds the null guard; the data is pages 1–23
const WPP = PS / 4;

type Op =
  | { k: 'write'; word: number; len: number; seed: number }
  | { k: 'view'; word: number; len: number; seed: number }
  | { k: 'read'; word: number; len: number }
  | { k: 'dispatch'; page: number; pages: number; mul: number; add: number; demand: boolean }
  | { k: 'prefetch'; page: number; pages: number; to: 'device' | 'host' }
  | { k: 'advise'; page: number; pages: number; advice: Advice }
  | { k: 'pin'; page: number; pages: number }
  | { k: 'unpin' }
  /** A prefetch, and a host write into its range while its first copy is in flight (after it, if it copies nothing asynchronously). */
  | { k: 'race'; page: number; pages: number; to: 'device' | 'host'; word: number; seed: number };

const WORDS = (PAGES - 1) * WPP;
const page = fc.integer({ min: 1, max: PAGES - 1 });
const span = fc.integer({ min: 1, max: 6 });
const word = fc.integer({ min: 0, max: WORDS - 1 });
const len = fc.integer({ min: 1, max: 3 * WPP });
const advice: fc.Arbitrary<Advice> = fc.oneof(
  fc.record({ readMostly: fc.boolean() }),
  fc.record({ preferredLocation: fc.constantFrom('host' as const, 'device' as const, 'none' as const) }),
  fc.record({ accessedBy: fc.constantFrom('device' as const, 'none' as const) }),
);
const op: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ k: fc.constant('write' as const), word, len, seed: fc.nat() }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('view' as const), word, len, seed: fc.nat() }) },
  { weight: 3, arbitrary: fc.record({ k: fc.constant('read' as const), word, len }) },
  // At most 4 pages: the pool's 8 frames less the pin limit's 4, so a declared dispatch always fits.
  { weight: 4, arbitrary: fc.record({ k: fc.constant('dispatch' as const), page, pages: fc.integer({ min: 1, max: 4 }), mul: fc.integer({ min: 1, max: 7 }), add: fc.nat(1000), demand: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('prefetch' as const), page, pages: fc.integer({ min: 1, max: 12 }), to: fc.constantFrom('device' as const, 'host' as const) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('advise' as const), page, pages: span, advice }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('pin' as const), page, pages: fc.integer({ min: 1, max: 2 }) }) },
  { weight: 1, arbitrary: fc.record({ k: fc.constant('unpin' as const) }) },
  { weight: 2, arbitrary: fc.record({ k: fc.constant('race' as const), page, pages: fc.integer({ min: 1, max: 8 }), to: fc.constantFrom('device' as const, 'host' as const), word: fc.nat(8 * WPP - 1), seed: fc.nat() }) },
);

/**
 * Run `action` one microtask after the pool's next `method` transfer starts (a map cannot land that soon).
 * `done()` waits for it — running it now if no such transfer started — and says whether it ran during one.
 */
function duringNextCopy(pool: Pool, method: 'staging' | 'readback', action: () => Promise<void>): { done(): Promise<boolean> } {
  const transfer = poolImpl(pool).transfer as unknown as Record<string, (...args: unknown[]) => Promise<void>>;
  const original = transfer[method]!;
  let ran: Promise<void> | undefined;
  transfer[method] = function (this: unknown, ...args: unknown[]) {
    transfer[method] = original;
    const copy = original.apply(this, args);
    ran = Promise.resolve().then(action);
    return copy;
  };
  return {
    async done() {
      if (ran) {
        await ran;
        return true;
      }
      transfer[method] = original;
      await action();
      return false;
    },
  };
}

function words(seed: number, n: number): Uint32Array {
  let x = seed >>> 0 || 1;
  return new Uint32Array(n).map(() => (x = (Math.imul(x, 1664525) + 1013904223) >>> 0));
}

testWithDevice('with every policy acting, random host, dispatch, prefetch, advice and pin sequences read like a plain ArrayBuffer (fast-check)', async (ctx) => {
  // What the policies did over all runs: the property must have exercised them.
  const acted = { thrashing: 0, densityPrefetch: 0, writtenThrough: 0, explicitPrefetch: 0, racedCopies: 0 };
  await fc.assert(
    // The staging path awaits its maps, so a racing host write can land while a copy is in flight.
    fc.asyncProperty(fc.array(op, { minLength: 10, maxLength: 40 }), fc.constantFrom('auto' as const, 'staging' as const), async (ops, uploadPath) => {
      const { space, pool } = await makeSpace(ctx, { capacity: 8 * PS, pageSize: PS, uploadPath }, PAGES * PS, {
        densityPrefetch: { blockSize: 4 * PS },
        thrashing: { threshold: 2, lapseMs: 1e9, pinMs: 1e9 },
      });
      try {
        pool.on((e) => {
          if (e.type === 'thrashing') acted.thrashing++;
          if (e.type === 'invalidation') acted.writtenThrough += e.pagesWrittenThrough;
        });
        const base = space.alloc((PAGES - 1) * PS, { align: PS });
        expect(base).toBe(PS);
        const model = new Uint32Array(PAGES * WPP);
        const pins: [number, number][] = [];
        for (const o of ops) {
          switch (o.k) {
            case 'write': {
              const n = Math.min(o.len, WORDS - o.word);
              const w = words(o.seed, n);
              model.set(w, WPP + o.word);
              await space.write(base + o.word * 4, w);
              break;
            }
            case 'view': {
              const n = Math.min(o.len, WORDS - o.word);
              const w = words(o.seed, n);
              model.set(w, WPP + o.word);
              await space.withView(base + o.word * 4, n * 4, 'write', (v) => u32(v).set(w));
              break;
            }
            case 'read': {
              const n = Math.min(o.len, WORDS - o.word);
              expect([...u32(await space.read(base + o.word * 4, n * 4))]).toEqual([...model.subarray(WPP + o.word, WPP + o.word + n)]);
              break;
            }
            case 'dispatch': {
              const pages = Math.min(o.pages, PAGES - o.page);
              const n = pages * WPP;
              const addr = o.page * PS;
              const r = await space.dispatch(affine, {
                workgroups: n / 64, args: [addr, n, o.mul, o.add], ...(o.demand ? { demand: true } : { write: [{ addr, byteLength: n * 4 }] }),
              });
              acted.densityPrefetch += r.demand?.pagesDensityPrefetched ?? 0;
              for (let i = addr / 4; i < addr / 4 + n; i++) model[i] = (Math.imul(model[i]!, o.mul) + o.add) >>> 0;
              break;
            }
            case 'prefetch': {
              const r = await space.prefetch(o.page * PS, Math.min(o.pages, PAGES - o.page) * PS, { to: o.to });
              acted.explicitPrefetch += r.pagesCopied + r.pagesCleared + r.pagesDropped;
              break;
            }
            case 'advise':
              space.advise(o.page * PS, Math.min(o.pages, PAGES - o.page) * PS, o.advice);
              break;
            case 'pin': {
              const n = Math.min(o.pages, PAGES - o.page);
              try {
                await space.pin(o.page * PS, n * PS);
                pins.push([o.page, n]);
              } catch (e) {
                if (!(e instanceof PinLimitError)) throw e;
              }
              break;
            }
            case 'race': {
              const pages = Math.min(o.pages, PAGES - o.page);
              const at = o.page * WPP + (o.word % (pages * WPP));
              const n = Math.min(WPP, PAGES * WPP - at);
              const w = words(o.seed, n);
              model.set(w, at);
              const race = duringNextCopy(pool, o.to === 'device' ? 'staging' : 'readback', () => space.write(at * 4, w));
              await space.prefetch(o.page * PS, pages * PS, { to: o.to });
              if (await race.done()) acted.racedCopies++;
              break;
            }
            case 'unpin': {
              const p = pins.pop();
              if (p) space.unpin(p[0] * PS, p[1] * PS);
              break;
            }
          }
          space.checkInvariants();
        }
        expect([...u32(await space.read(base, WORDS * 4))]).toEqual([...model.subarray(WPP)]);
        return true;
      } finally {
        space.destroy();
        pool.destroy();
      }
    }),
    { numRuns: Number(process.env.HMM_PROP_RUNS ?? 40), seed: Number(process.env.HMM_PROP_SEED ?? 20260705) },
  );
  if (process.env.HMM_PROP_VERBOSE) console.log(acted);
  for (const [what, n] of Object.entries(acted)) expect(n, `${what} never happened in these runs`).toBeGreaterThan(0);
}, 300_000);
