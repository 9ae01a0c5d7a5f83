// Measures the two upload paths of src/device/transfer.ts on this machine —
// queue.writeBuffer in writeChunk pieces vs the reused staging ring — across
// transfer sizes, interleaved, median of repetitions, each timed to GPU
// completion (onSubmittedWorkDone). Prints throughput and the ratio, and the
// smallest size from which staging wins: the basis of DEFAULT_STAGING_THRESHOLD.
//
// Usage: npx tsx bench/upload-paths.ts [--reps N]

import { parseArgs } from 'node:util';
import { requestNodeDevice } from '../src/node.ts';
import { Transfer, type Piece } from '../src/device/transfer.ts';
import { BufferUsage } from '../src/gpu/constants.ts';
import { DEFAULT_STAGING_SLOT_SIZE, DEFAULT_STAGING_SLOTS, DEFAULT_WRITE_CHUNK, MiB, KiB } from '../src/options.ts';
// One median for every benchmark (the mean of the middle two for an even count).
import { median } from './lib.ts';

const { values } = parseArgs({ options: { reps: { type: 'string', default: '7' } } });
const reps = Number(values.reps);
const gpu = await requestNodeDevice();
const device = gpu.device;
const window = device.createBuffer({ label: 'bench:window', size: 64 * MiB, usage: BufferUsage.STORAGE | BufferUsage.COPY_DST | BufferUsage.COPY_SRC });
const host = new Uint8Array(64 * MiB).map((_, i) => i * 31);
const t = new Transfer(device, [window], DEFAULT_WRITE_CHUNK, DEFAULT_STAGING_SLOT_SIZE, DEFAULT_STAGING_SLOTS, 'bench');

async function time(fn: () => Promise<void> | void): Promise<number> {
  const t0 = performance.now();
  await fn();
  await device.queue.onSubmittedWorkDone();
  return performance.now() - t0;
}

// Warm up: first use of the window and of the staging slots.
const all: Piece[] = [{ hostOffset: 0, window: 0, windowOffset: 0, byteLength: 64 * MiB }];
await time(() => t.writeBuffer(host, all));
await time(() => t.staging(host, all));

const sizes = [64 * KiB, 256 * KiB, 1 * MiB, 2 * MiB, 4 * MiB, 8 * MiB, 16 * MiB, 64 * MiB];
console.log(`upload paths on ${gpu.adapterName}; writeChunk ${DEFAULT_WRITE_CHUNK / KiB} KiB, staging ${DEFAULT_STAGING_SLOTS} × ${DEFAULT_STAGING_SLOT_SIZE / MiB} MiB; median of ${reps}`);
console.log('size       writeBuffer GB/s   staging GB/s   staging/writeBuffer');
let crossover: number | undefined;
const rows: { size: number; wb: number; st: number }[] = [];
for (const size of sizes) {
  const wb: number[] = [];
  const st: number[] = [];
  const pieces: Piece[] = [{ hostOffset: 0, window: 0, windowOffset: 0, byteLength: size }];
  for (let r = 0; r < reps; r++) {
    wb.push(await time(() => t.writeBuffer(host, pieces)));
    st.push(await time(() => t.staging(host, pieces)));
  }
  const gbs = (ms: number) => size / (ms / 1000) / 1e9;
  const a = gbs(median(wb));
  const b = gbs(median(st));
  rows.push({ size, wb: a, st: b });
  if (crossover === undefined && b > a) crossover = size;
  const label = size >= MiB ? `${size / MiB} MiB` : `${size / KiB} KiB`;
  console.log(`${label.padEnd(10)} ${a.toFixed(2).padStart(16)} ${b.toFixed(2).padStart(14)} ${(b / a).toFixed(2).padStart(21)}`);
}
console.log(crossover === undefined ? 'staging never won' : `staging wins from ${crossover / MiB} MiB`);
t.destroy();
window.destroy();
gpu.destroy();
