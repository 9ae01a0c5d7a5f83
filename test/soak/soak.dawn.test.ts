// The soak, bounded for CI (SOAK_SECONDS, default 20): random operations on a
// long-lived pool, checked against the oracle, with pools, observers and
// subscriptions churned in between; no growth in GPU buffers, staging
// buffers, subscriptions or listeners, and no churned pool kept alive, from
// the first checkpoint after warm-up to the last; every trace recorded in
// between keeps the Trace Event Format rules. Minutes: `npm run soak`.

import { expect } from 'vitest';
import { testWithDevice } from '../helpers/gpu.ts';
import { runSoak } from './soak.ts';

const seconds = Number(process.env.SOAK_SECONDS ?? 20);

testWithDevice(`soak (${seconds} s): nothing grows — GPU buffers, staging buffers, subscriptions, listeners, pools kept alive`, async (ctx) => {
  const report = await runSoak(ctx.device, { seconds, seed: Date.now() % 2 ** 31 });
  const first = report.checkpoints[0]!;
  const last = report.checkpoints[report.checkpoints.length - 1]!;
  console.log(`soak: ${report.stats.ops} operations, ${report.churnedPools} pools churned; ` +
    `first/last checkpoint: ${first.liveBuffers}/${last.liveBuffers} buffers, ${first.stagingBuffers}/${last.stagingBuffers} staging, ` +
    `heap ${first.heapUsedMiB}/${last.heapUsedMiB} MiB`);
  expect(report.checkpoints.length).toBeGreaterThanOrEqual(2);
  expect(report.growth).toEqual([]);
  expect(report.traceProblems).toEqual([]);
  // The counts are real: the long-lived pool's windows, tables and rings are among them.
  expect(first.liveBuffers).toBeGreaterThan(10);
  expect(first.stagingBuffers).toBeGreaterThan(4);
  expect(report.churnedPools).toBeGreaterThan(0);
}, (seconds + 120) * 1000);
