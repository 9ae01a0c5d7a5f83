// `npm run soak -- [--seconds S] [--seed N] [--checkpoints K]`: the soak of
// test/soak/soak.ts for minutes (default 300 s) on one Dawn device. Prints
// each checkpoint (live GPU buffers and bytes, staging buffers, subscriptions,
// listeners, frames, churned pools still reachable after a forced collection,
// heap) and fails if anything grew from the first
// checkpoint after warm-up to the last, naming it.

import { parseArgs } from 'node:util';
import { requestNodeDevice } from '../src/node.ts';
import { runSoak, type Checkpoint } from '../test/soak/soak.ts';

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '300' },
    seed: { type: 'string' },
    checkpoints: { type: 'string', default: '6' },
  },
});
const seconds = Number(values.seconds);
if (!(seconds > 0)) throw new Error(`--seconds: "${values.seconds}" is not a positive number`);
const checkpoints = Number(values.checkpoints);
if (!Number.isInteger(checkpoints) || checkpoints < 2) throw new Error(`--checkpoints: "${values.checkpoints}" must be a whole number ≥ 2`);
const seed = values.seed !== undefined ? Number(values.seed) : Date.now() % 2 ** 31;

const node = await requestNodeDevice();
const uncaptured: string[] = [];
node.device.addEventListener('uncapturederror', (ev) => uncaptured.push((ev as GPUUncapturedErrorEvent).error.message));
console.log(`soak: ${seconds} s, seed ${seed}, ${checkpoints} checkpoints after a 25% warm-up; device ${node.adapterName}`);
const row = (c: Checkpoint) =>
  `${String(c.seconds).padStart(7)} s ${String(c.ops).padStart(9)} ops | buffers ${c.liveBuffers} (${c.liveBufferBytes} B) | staging ${c.stagingBuffers} | ` +
  `subscriptions ${c.subscriptions} | listeners ${c.listeners} | frames used ${c.framesUsed} | pipelines ${c.pipelines} | churned pools alive ${c.poolsAlive} | heap ${c.heapUsedMiB} MiB | rss ${c.rssMiB} MiB`;
const report = await runSoak(node.device, { seconds, seed, checkpoints, onCheckpoint: (c) => console.log(row(c)) });
node.destroy();
const s = report.stats;
console.log(`${s.ops} operations (${JSON.stringify(s.dispatchModes)} dispatches), ${report.churnedPools} pools created and destroyed beside the long-lived one`);
console.log(`the oracle's own records at the end: ${report.oracleRecords.pinRanges} pinned ranges, ${report.oracleRecords.freedAddresses} freed addresses`);
if (uncaptured.length > 0) console.log(`uncaptured WebGPU errors: ${uncaptured.join('; ')}`);
if (report.traceProblems.length > 0) console.log(`traces that break the Trace Event Format: ${report.traceProblems.join('; ')}`);
if (report.growth.length > 0 || report.traceProblems.length > 0 || uncaptured.length > 0) {
  console.log(`FAILED: ${[...report.growth, ...report.traceProblems].join('; ')}`);
  process.exit(1);
}
console.log('passed: nothing grew');
