// `npm run bench:file -- [--mib 128] [--budget 32] [--reps 5]`: disk → device
// through a file-backed space (src/node/file-space.ts) against fs.readSync of
// the same file into one buffer (allocated beforehand) (issue 16 item 3; target: throughput ratio
// ≥ 0.8). The runtime side: createFileSpace with a host budget of a quarter
// of the file or less, then prefetch of the whole space to the device (the
// pool holds it all), timed until the device copy is complete. Interleaved,
// median of the repetitions. The file is freshly written, so both sides read
// it from the page cache: the figure is what the runtime adds to a read, not
// the disk's speed. Two baselines: readSync into a buffer made and touched
// beforehand (the reads alone), and readFileSync (a fresh buffer, as a user
// reading a file would). Also the upload alone (the same bytes host-valid in
// an ordinary space) to show the part of the time the device copy takes.

import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createPool, createSpace } from '../src/index.ts';
import { createFileSpace, requestNodeDevice } from '../src/node.ts';
import { gbps, median, MiB, xorshift32 } from './lib.ts';

const { values } = parseArgs({ options: { mib: { type: 'string', default: '128' }, budget: { type: 'string', default: '32' }, reps: { type: 'string', default: '5' } } });
const size = Number(values.mib) * MiB;
const budget = Number(values.budget) * MiB;
const reps = Number(values.reps);

const dir = mkdtempSync(join(tmpdir(), 'hmm-bench-file-'));
const path = join(dir, 'data.bin');
{
  const w = new Uint32Array(size / 4);
  const next = xorshift32(7);
  for (let i = 0; i < w.length; i++) w[i] = next();
  writeFileSync(path, w);
}

const node = await requestNodeDevice();
const pool = await createPool(node.device, { capacity: size + 16 * MiB });

const buf = new Uint8Array(size); // made (and touched) once: the baseline times the reads alone
buf.fill(1);

/** readFileSync: the file into a fresh buffer. */
function fsReadFile(): number {
  const t0 = performance.now();
  const b = readFileSync(path);
  const ms = performance.now() - t0;
  if (b.length !== size) throw new Error('short read');
  return ms;
}

function fsRead(): number {
  const t0 = performance.now();
  const fd = openSync(path, 'r');
  for (let off = 0; off < size;) off += readSync(fd, buf, off, Math.min(64 * MiB, size - off), off);
  closeSync(fd);
  return performance.now() - t0;
}

async function toDevice(): Promise<number> {
  const t0 = performance.now();
  const space = createFileSpace(pool, path, { hostBudget: budget, readOnly: true });
  await space.prefetch(0, size, { to: 'device' });
  await node.device.queue.onSubmittedWorkDone();
  const ms = performance.now() - t0;
  await space.close();
  return ms;
}

/** The upload alone: the same bytes host-valid in an ordinary space (written untimed), prefetched to the device. */
async function upload(): Promise<number> {
  const space = createSpace(pool, { size });
  await space.write(0, buf);
  const t0 = performance.now();
  await space.prefetch(0, size, { to: 'device' });
  await node.device.queue.onSubmittedWorkDone();
  const ms = performance.now() - t0;
  space.destroy();
  return ms;
}

const up: number[] = [];
const whole: number[] = [];
const raw: number[] = [];
const hmm: number[] = [];
await toDevice(); // warm-up: pipelines, staging ring
fsRead();
for (let r = 0; r < reps; r++) {
  raw.push(fsRead());
  whole.push(fsReadFile());
  hmm.push(await toDevice());
  up.push(await upload());
}
const a = median(raw);
const b = median(hmm);
console.log(`file ${size / MiB} MiB, host budget ${budget / MiB} MiB, median of ${reps}`);
console.log(`  fs.readSync into a buffer   ${a.toFixed(1)} ms  ${gbps(size, a).toFixed(2)} GB/s`);
console.log(`  fs.readFileSync (fresh)     ${median(whole).toFixed(1)} ms  ${gbps(size, median(whole)).toFixed(2)} GB/s`);
console.log(`  file space → device         ${b.toFixed(1)} ms  ${gbps(size, b).toFixed(2)} GB/s`);
console.log(`  upload alone (host space)   ${median(up).toFixed(1)} ms  ${gbps(size, median(up)).toFixed(2)} GB/s`);
console.log(`  throughput ratio (target ≥ 0.8): ${(a / b).toFixed(3)} against readSync into a touched buffer, ${(median(whole) / b).toFixed(3)} against readFileSync`);
pool.destroy();
node.destroy();
rmSync(dir, { recursive: true, force: true });
