// The differential fuzz model (./model.ts) on Dawn, bounded for CI: random
// sequences of allocations, host reads and writes, views, pins, dispatches of
// copy / in-place add / atomic histogram / atomic tickets / pointer walk / stray kernels in
// declared and demand mode, the in-place add as a plain kernel over a bound range (zero translation), prefetches both ways and advice, bursts of them
// issued without awaiting, in a varied world (a durable space, a memory group
// with a small max, short thrashing holds, density prefetch), and
// evictions forced through a tiny shared pool — compared with a plain
// ArrayBuffer oracle after every operation. One fixed seed (the same sequences
// every run) and fresh seeds each run; on failure fast-check prints the seed,
// the path and the shrunk counterexample: add it to regressions.dawn.test.ts.
// More: `npm run fuzz -- --ops N`. Env: HMM_FUZZ_RUNS scales the run counts,
// HMM_FUZZ_SEED replaces the random seeds.

import fc from 'fast-check';
import { expect } from 'vitest';
import { testWithDevice } from '../helpers/gpu.ts';
import { emptyStats, fuzzSequenceArb, runSequence, type FuzzStats } from './model.ts';

const scale = Number(process.env.HMM_FUZZ_RUNS ?? 1);
const FIXED_SEED = 20261121;

testWithDevice('differential fuzz: the runtime agrees with a plain ArrayBuffer oracle (fixed seed and fresh seeds)', async (ctx) => {
  const property = (stats: FuzzStats, size: fc.SizeForArbitrary, maxOps: number) =>
    fc.asyncProperty(fuzzSequenceArb(maxOps, size), ([cfg, ops]) => runSequence(ctx.device, cfg, ops, stats));
  // The same sequences every run: short ones, many configurations.
  const fixed = emptyStats();
  await fc.assert(property(fixed, 'small', 40), { seed: FIXED_SEED, numRuns: Math.ceil(200 * scale) });
  // Fresh ones: fewer, longer sequences.
  const fresh = emptyStats();
  const seed = process.env.HMM_FUZZ_SEED !== undefined ? Number(process.env.HMM_FUZZ_SEED) : Date.now() % 2 ** 31;
  await fc.assert(property(fresh, 'medium', 60), { seed, numRuns: Math.ceil(20 * scale) });
  // The fixed run did what it claims (its sequences are the same every time): every kind of operation,
  // every dispatch mode, the predicted refusals, write-backs and aborted commits.
  for (const kind of ['write', 'read', 'view', 'alloc', 'free', 'pin', 'unpin', 'copy', 'add', 'hist', 'walk', 'stray', 'tickets', 'evict', 'prefetch', 'advise', 'burst', 'reenter', 'hostile', 'bound']) {
    expect(fixed.byKind[kind] ?? 0, kind).toBeGreaterThan(0);
  }
  expect(Object.keys(fixed.dispatchModes).sort()).toEqual(['declared', 'replay', 'transaction']);
  expect(fixed.fileBacked, 'sequences with a file-backed space').toBeGreaterThan(0);
  for (const code of ['ACCESS_VIOLATION', 'PIN_LIMIT', 'WORKING_SET_TOO_LARGE', 'NOT_PINNED', 'OUT_OF_RANGE', 'SUBSCRIBER', 'KERNEL_COMPILE', 'BIND_RANGE']) {
    expect(fixed.expectedErrors[code] ?? 0, code).toBeGreaterThan(0);
  }
  expect(fixed.pool['evictionWritebacks'] ?? 0).toBeGreaterThan(0);
  expect(fixed.aborts).toBeGreaterThan(0);
  // The varied policies acted: explicit and density prefetches moved pages, durable dispatches wrote home.
  for (const cause of ['migrate:prefetch', 'migrate:durable']) expect(fixed.events[cause] ?? 0, cause).toBeGreaterThan(0);
  for (const [name, st] of [['fixed seed', fixed], [`fresh seed ${seed}`, fresh]] as const) {
    console.log(`differential fuzz, ${name}: ${st.ops} operations in ${st.sequences} sequences (${st.fileBacked} with a file-backed space); dispatches ${JSON.stringify(st.dispatchModes)}, ` +
      `evictions ${st.pool['evictions']}, aborts ${st.aborts}, retries ${st.retries}; bound dispatches ${st.byKind['bound'] ?? 0} ` +
      `(refused: ${st.expectedErrors['BIND_RANGE'] ?? 0} over a window, ${st.expectedErrors['BIND_RANGE (pinned)'] ?? 0} by pins); events ${JSON.stringify(st.events)}`);
  }
}, 300_000);
