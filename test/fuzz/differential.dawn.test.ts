// The differential fuzz model (./model.ts) on Dawn, bounded for CI: random
// sequences of allocations, host reads and writes, views, pins, dispatches of
// copy / in-place add / atomic histogram / pointer walk / stray kernels in
// declared and demand mode, bursts of them issued without awaiting, and
// evictions forced through a tiny shared pool — compared with a plain
// ArrayBuffer oracle after every operation. One fixed seed (the same sequences
// every run) and fresh seeds each run; on failure fast-check prints the seed,
// the path and the shrunk counterexample: add it to regressions.dawn.test.ts.
// More: `npm run fuzz -- --ops N`. Env: HMM_FUZZ_RUNS scales the run counts,
// HMM_FUZZ_SEED replaces the random seeds.

import fc from 'fast-check';
import { expect } from 'vitest';
import { testWithDevice } from '../helpers/gpu.ts';
import { emptyStats, fuzzSequenceArb, runSequence } from './model.ts';

const scale = Number(process.env.HMM_FUZZ_RUNS ?? 1);
const FIXED_SEED = 20261121;

testWithDevice('differential fuzz: the runtime agrees with a plain ArrayBuffer oracle (fixed seed and fresh seeds)', async (ctx) => {
  const stats = emptyStats();
  const property = (size: fc.SizeForArbitrary, maxOps: number) =>
    fc.asyncProperty(fuzzSequenceArb(maxOps, size), ([cfg, ops]) => runSequence(ctx.device, cfg, ops, stats));
  // The same sequences every run: short ones, many configurations.
  await fc.assert(property('small', 40), { seed: FIXED_SEED, numRuns: Math.ceil(120 * scale) });
  // Fresh ones: fewer, longer sequences.
  const seed = process.env.HMM_FUZZ_SEED !== undefined ? Number(process.env.HMM_FUZZ_SEED) : Date.now() % 2 ** 31;
  await fc.assert(property('medium', 60), { seed, numRuns: Math.ceil(12 * scale) });
  // The run did what it claims: every kind of operation, both modes, and the predicted refusals.
  for (const kind of ['write', 'read', 'view', 'alloc', 'free', 'pin', 'unpin', 'copy', 'add', 'hist', 'walk', 'stray', 'evict', 'burst']) {
    expect(stats.byKind[kind] ?? 0, kind).toBeGreaterThan(0);
  }
  expect(Object.keys(stats.dispatchModes).sort()).toEqual(['declared', 'replay', 'transaction']);
  expect(stats.expectedErrors['ACCESS_VIOLATION'] ?? 0).toBeGreaterThan(0);
  expect(stats.expectedErrors['PIN_LIMIT'] ?? 0).toBeGreaterThan(0);
  expect(stats.pool['evictionWritebacks'] ?? 0).toBeGreaterThan(0);
  console.log(`differential fuzz: ${stats.ops} operations in ${stats.sequences} sequences (fresh seed ${seed}); ` +
    `dispatches ${JSON.stringify(stats.dispatchModes)}, evictions ${stats.pool['evictions']}, retries ${stats.retries}`);
}, 300_000);
