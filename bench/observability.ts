// What seeing inside costs (issue 4): the same workloads with nobody
// listening, with a listener that does nothing (the cost of building events),
// with a ledger and a Chrome trace recording, and in a strict space (hashing
// pages as they move and rescanning resident pages before every dispatch).
// Interleaved, warmed up, median of repetitions, printed as ratios to the
// quiet run, in one process.
//
// Usage: npx tsx bench/observability.ts [--reps N]

import { parseArgs } from 'node:util';
import { requestNodeDevice } from '../src/node.ts';
import { createLedger, createPool, createSpace, recordTrace, type AddressSpace, type Pool } from '../src/index.ts';
import { affine, grid } from './suite.ts';
// One median for every benchmark (the mean of the middle two for an even count).
import { median } from './lib.ts';

const { values } = parseArgs({ options: { reps: { type: 'string', default: '5' } } });
const reps = Number(values.reps);
const MiB = 1 << 20;
const gpu = await requestNodeDevice();


type Variant = 'quiet' | 'noop listener' | 'ledger + trace' | 'strict';
const variants: Variant[] = ['quiet', 'noop listener', 'ledger + trace', 'strict'];

async function setup(v: Variant, capacity: number, size: number): Promise<{ pool: Pool; space: AddressSpace; done(): void }> {
  const pool = await createPool(gpu.device, { capacity, pageSize: 64 * 1024 });
  const space = createSpace(pool, { size, strict: v === 'strict' });
  const offs: (() => void)[] = [];
  if (v === 'noop listener') offs.push(pool.on(() => undefined));
  if (v === 'ledger + trace') {
    const l = createLedger(space);
    const t = recordTrace(pool);
    offs.push(() => l.close(), () => t.stop());
  }
  return { pool, space, done: () => { offs.forEach((f) => f()); space.destroy(); pool.destroy(); } };
}

const run = (space: AddressSpace, addr: number, bytes: number) =>
  space.dispatch(affine, { workgroups: grid(bytes / 4), write: [{ addr, byteLength: bytes }], args: [addr, bytes / 4, 3, 1] });

/** Stream a 64 MiB space through a 16 MiB pool in 4 MiB dispatches, twice: migrations and evictions dominate. */
async function stream(v: Variant): Promise<number> {
  const { space, done } = await setup(v, 16 * MiB, 64 * MiB);
  await space.write(0, new Uint8Array(64 * MiB).fill(1));
  const t0 = performance.now();
  for (let pass = 0; pass < 2; pass++) for (let a = 0; a < 64 * MiB; a += 4 * MiB) await run(space, a, 4 * MiB);
  await space.read(0, 64 * MiB);
  const ms = performance.now() - t0;
  done();
  return ms;
}

/** 100 small dispatches over 8 MiB that stay resident: per-dispatch costs dominate (strict mode rescans 8 MiB each time). */
async function resident(v: Variant): Promise<number> {
  const { space, done } = await setup(v, 16 * MiB, 16 * MiB);
  await space.write(0, new Uint8Array(8 * MiB).fill(1));
  await run(space, 0, 8 * MiB);
  const t0 = performance.now();
  for (let i = 0; i < 100; i++) await run(space, (i % 128) * 64 * 1024, 64 * 1024);
  const ms = performance.now() - t0;
  done();
  return ms;
}

console.log(`observability costs on ${gpu.adapterName}; median of ${reps}, interleaved`);
for (const [name, fn] of [['stream 64 MiB through 16 MiB ×2', stream], ['100 resident dispatches', resident]] as const) {
  for (const v of variants) await fn(v); // warm-up: pipelines, buffers
  const times = new Map<Variant, number[]>(variants.map((v) => [v, []]));
  for (let r = 0; r < reps; r++) for (const v of variants) times.get(v)!.push(await fn(v));
  const base = median(times.get('quiet')!);
  console.log(`\n${name}`);
  for (const v of variants) {
    const m = median(times.get(v)!);
    console.log(`  ${v.padEnd(16)} ${m.toFixed(0).padStart(6)} ms   ×${(m / base).toFixed(3)}`);
  }
}
gpu.destroy();
