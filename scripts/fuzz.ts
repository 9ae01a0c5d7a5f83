// `npm run fuzz -- --ops N [--seed S] [--max-len L] [--batch B] [--minutes M] [--json FILE]`: the
// differential fuzz model (test/fuzz/model.ts) for as many operations as asked,
// on one Dawn device. Sequences run in batches of B under fast-check (lengths spread up to L), batch k
// with seed S + k; the first failing sequence is shrunk and printed as JSON
// (config and operations) with the seed and path that replay it — paste it
// into test/fuzz/regressions.dawn.test.ts. Prints operations per second and,
// at the end, counts of what ran (kinds, dispatch modes, predicted errors,
// pool counters, thrashing detections and pages migrated by cause) for docs/reliability.md; --json
// writes them to a file.
// --minutes stops after the batch that passes M minutes, short of N if need be.

import { writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import cliProgress from 'cli-progress';
import fc from 'fast-check';
import { requestNodeDevice } from '../src/node.ts';
import { emptyStats, fuzzSequenceArb, runSequence } from '../test/fuzz/model.ts';

const { values } = parseArgs({
  options: {
    ops: { type: 'string', default: '10000' },
    seed: { type: 'string' },
    'max-len': { type: 'string', default: '120' },
    batch: { type: 'string', default: '20' },
    minutes: { type: 'string' },
    json: { type: 'string' },
  },
});

function whole(name: string, v: string | undefined, min: number): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name}: "${v}" is not a whole number ≥ ${min}`);
  return n;
}

const target = whole('ops', values.ops, 1);
const maxLen = whole('max-len', values['max-len'], 1);
const batch = whole('batch', values.batch, 1);
const minutes = values.minutes !== undefined ? Number(values.minutes) : Infinity;
if (!(minutes > 0)) throw new Error(`--minutes: "${values.minutes}" is not a positive number`);
const seed0 = values.seed !== undefined ? whole('seed', values.seed, 0) : Date.now() % 2 ** 31;

const node = await requestNodeDevice();
const uncaptured: string[] = [];
node.device.addEventListener('uncapturederror', (ev) => uncaptured.push((ev as GPUUncapturedErrorEvent).error.message));

const stats = emptyStats();
const tty = process.stdout.isTTY === true;
const bar = tty
  ? new cliProgress.SingleBar({ format: 'fuzz [{bar}] {percentage}% | {value}/{total} ops | {rate} ops/s | {duration_formatted}', hideCursor: true, barsize: 30 }, cliProgress.Presets.shades_classic)
  : undefined;
bar?.start(target, 0, { rate: '0' });
const t0 = performance.now();
let lastLine = 0;
let shrinking = false;
const onOp = (): void => {
  if (shrinking) return;
  const rate = (stats.ops / ((performance.now() - t0) / 1000)).toFixed(0);
  if (bar) bar.update(Math.min(stats.ops, target), { rate });
  else if (stats.ops - lastLine >= Math.max(1, Math.floor(target / 20))) {
    lastLine = stats.ops;
    console.log(`[progress] ${stats.ops}/${target} ops, ${rate} ops/s`);
  }
};

console.log(`fuzz: ${target} operations, sequences of 1–${maxLen}, batches of ${batch}, seed ${seed0}; device ${node.adapterName}`);
let failed = false;
let b = 0;
for (; stats.ops < target && performance.now() - t0 < minutes * 60_000; b++) {
  const seed = seed0 + b;
  const property = fc.asyncProperty(fuzzSequenceArb(maxLen, 'max'), async ([cfg, ops]) => {
    try {
      // Runs after a failure are fast-check shrinking it: they do not count as fuzzed operations.
      await runSequence(node.device, cfg, ops, shrinking ? undefined : stats, onOp);
      if (uncaptured.length > 0) throw new Error(`uncaptured WebGPU errors: ${uncaptured.splice(0).join('; ')}`);
    } catch (e) {
      shrinking = true;
      throw e;
    }
  });
  const details = await fc.check(property, { seed, numRuns: batch });
  if (details.failed) {
    bar?.stop();
    failed = true;
    console.log('');
    console.log(`FAILED in batch ${b} (seed ${seed}, path ${details.counterexamplePath}) after ${details.numShrinks} shrinks:`);
    console.log(details.errorInstance instanceof Error ? details.errorInstance.message : String(details.errorInstance));
    console.log('counterexample (config, operations):');
    console.log(JSON.stringify(details.counterexample?.[0]));
    console.log(`replay: fc.assert(property, { seed: ${seed}, path: '${details.counterexamplePath}' }), or runSequence(device, cfg, ops) with the JSON above`);
    break;
  }
}
bar?.stop();
const seconds = (performance.now() - t0) / 1000;
node.destroy();

console.log('');
console.log(`${failed ? 'FAILED' : 'passed'}: ${stats.ops} operations (${stats.steps} steps) in ${stats.sequences} sequences, ${b + (failed ? 1 : 0)} batches from seed ${seed0}`);
console.log(`${seconds.toFixed(0)} s, ${(stats.ops / seconds).toFixed(0)} ops/s`);
console.log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}, ${node.adapterName}`);
console.log(`operations: ${JSON.stringify(stats.byKind)}`);
console.log(`dispatches: ${JSON.stringify(stats.dispatchModes)}; demand passes ${stats.demandPasses}, aborts ${stats.aborts}, slices ${stats.slices}, fault-in retries ${stats.retries}`);
console.log(`predicted errors raised: ${JSON.stringify(stats.expectedErrors)}`);
console.log(`pool counters: ${JSON.stringify(stats.pool)}`);
console.log(`events (thrashing detections; pages migrated by cause): ${JSON.stringify(stats.events)}`);
if (values.json) {
  writeFileSync(values.json, JSON.stringify({
    passed: !failed, seed: seed0, batches: b + (failed ? 1 : 0), batchSize: batch, maxLen, seconds: Math.round(seconds),
    opsPerSecond: Math.round(stats.ops / seconds), date: new Date().toISOString(),
    machine: { cpus: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}`, memoryGiB: Math.round(totalmem() / 2 ** 30), node: process.version, adapter: node.adapterName },
    ...stats,
  }, null, 2) + '\n');
}
process.exit(failed ? 1 : 0);
