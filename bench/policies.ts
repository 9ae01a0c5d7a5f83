// What each policy does to time and bytes moved (issue 7): every policy on
// four synthetic access patterns — sequential, strided, random, ping-pong —
// run with the policy and without it, interleaved (with, without, with, …),
// warmed up, median of repetitions, in one process. Printed per policy and
// pattern: median ms each way, the time ratio (with / without: below 1 is
// faster), bytes moved host↔device each way (counted, the same every
// repetition), and passes or uploads where they tell the story.
//
//   density prefetch   a single invocation chases a linked list laid out in the
//                      pattern, demand-paged: one page found per pass without it
//   thrashing          ping-pong: a dispatch writes pages, the host writes a word
//                      into each, round after round; the other patterns sweep
//                      device-only chunks through an oversubscribed pool
//   preferred device   cold chunks streamed in the pattern's order, and a hot array
//                      every 4th dispatch reads, through a pool that holds only 3
//                      steps besides it; ping-pong: the host rewrites the hot
//                      array between dispatches that read it
//   explicit prefetch  prefetch(to: 'device') of the list before the chase (the
//                      time includes the prefetch); ping-pong: prefetch(to: 'host')
//                      of dirty pages before the host reads them
//
// Usage: npm run bench:policies -- [--quick] [--reps N] [--only prefetch,thrashing,…] (policy names, or parts of them)

import { parseArgs } from 'node:util';
import { requestNodeDevice } from '../src/node.ts';
import { createKernel, createPool, createSpace, type AddressSpace, type Pool, type SpaceOptions } from '../src/index.ts';
import { affine, grid } from './suite.ts';
import { KiB, MiB, median } from './lib.ts';
// The same list chase and orders the policy tests use (test/helpers/patterns.ts: plain code, no test runner).
import { buildList as buildPatternList, chase, order as listOrder, type List, type Pattern as ListPattern } from '../test/helpers/patterns.ts';

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, reps: { type: 'string' }, only: { type: 'string' } } });
const only = values.only?.split(',').map((x) => x.trim()).filter(Boolean);
const quick = values.quick === true;
const reps = values.reps !== undefined ? Number(values.reps) : quick ? 1 : 5;
if (!Number.isInteger(reps) || reps < 1) throw new Error(`--reps must be a positive whole number, got ${values.reps}`);

const PS = 4 * KiB;
const gpu = await requestNodeDevice();
const device = gpu.device;

type Pattern = 'sequential' | 'strided' | 'random' | 'ping-pong';
const PATTERNS: readonly Pattern[] = ['sequential', 'strided', 'random', 'ping-pong'];

/** One run: ms of the measured part, bytes moved each way, and a count worth showing. */
interface Run {
  ms: number;
  toDevice: number;
  toHost: number;
  count: number;
}

interface Case {
  readonly policy: string;
  /** What `count` counts. */
  readonly counts: string;
  run(pattern: Pattern, on: boolean): Promise<Run>;
}

async function withSpace<T>(capacity: number, size: number, options: Omit<SpaceOptions, 'size'>, fn: (space: AddressSpace, pool: Pool) => Promise<T>): Promise<T> {
  const pool = await createPool(device, { capacity, pageSize: PS, label: 'bench-policies' });
  const space = createSpace(pool, { size, label: 'bench', ...options });
  try {
    return await fn(space, pool);
  } finally {
    space.destroy();
    pool.destroy();
  }
}

/** Time `fn` from the call to the GPU being idle, with the bytes it moved. */
async function measure(pool: Pool, fn: () => Promise<number>): Promise<Run> {
  await device.queue.onSubmittedWorkDone();
  const s0 = pool.stats();
  const t0 = performance.now();
  const count = await fn();
  await device.queue.onSubmittedWorkDone();
  const ms = performance.now() - t0;
  const s1 = pool.stats();
  return { ms, toDevice: s1.bytesToDevice - s0.bytesToDevice, toHost: s1.bytesToHost - s0.bytesToHost, count };
}

/** The list patterns: ping-pong has no layout of its own and walks a sequential list. */
const listOf = (pattern: Pattern): ListPattern => (pattern === 'ping-pong' ? 'sequential' : pattern);
const order = (pattern: Pattern, n: number): number[] => listOrder(listOf(pattern), n);
const buildList = (space: AddressSpace, pattern: Pattern, nodes: number): Promise<List> => buildPatternList(space, listOf(pattern), nodes);

const NODES = quick ? 128 : 512;

const densityPrefetch: Case = {
  policy: 'density prefetch',
  counts: 'passes',
  run: (pattern, on) => withSpace(4 * MiB, 2 * NODES * PS + 64 * PS, { densityPrefetch: on, thrashing: false }, async (space, pool) => {
    if (pattern === 'ping-pong') return pingPongDemand(space, pool);
    const { head, out } = await buildList(space, pattern, NODES);
    return measure(pool, async () => (await space.dispatch(chase, { workgroups: 1, args: [head, out, NODES], demand: true })).demand!.passes);
  }),
};

/** Ping-pong in demand mode: a demand dispatch updates 16 pages, the host writes a word into each; 8 rounds. Counts passes. */
async function pingPongDemand(space: AddressSpace, pool: Pool): Promise<Run> {
  const pages = 16;
  const a = space.alloc(pages * PS, { align: PS });
  await space.write(a, new Uint32Array((pages * PS) / 4));
  return measure(pool, async () => {
    let passes = 0;
    for (let r = 0; r < 8; r++) {
      passes += (await space.dispatch(affine, { workgroups: grid((pages * PS) / 4), args: [a, (pages * PS) / 4, 1, 1], demand: true })).demand!.passes;
      for (let p = 0; p < pages; p++) await space.write(a + p * PS, new Uint32Array([r]));
    }
    return passes;
  });
}

const explicitPrefetch: Case = {
  policy: 'explicit prefetch',
  counts: 'passes',
  run: (pattern, on) => withSpace(4 * MiB, 2 * NODES * PS + 64 * PS, { densityPrefetch: false, thrashing: false }, async (space, pool) => {
    if (pattern === 'ping-pong') {
      // The device dirties 64 pages, the host reads them: with a prefetch to the host issued first (host work overlaps it), or not.
      const a = space.alloc(64 * PS, { align: PS });
      await space.write(a, new Uint32Array((64 * PS) / 4));
      return measure(pool, async () => {
        for (let r = 0; r < 8; r++) {
          await space.dispatch(affine, { workgroups: grid((64 * PS) / 4), write: [{ addr: a, byteLength: 64 * PS }], args: [a, (64 * PS) / 4, 1, 1] });
          const pre = on ? space.prefetch(a, 64 * PS, { to: 'host' }) : Promise.resolve();
          await pre;
          await space.read(a, 64 * PS);
        }
        return 8;
      });
    }
    const { head, out, addr, byteLength } = await buildList(space, pattern, NODES);
    return measure(pool, async () => {
      if (on) await space.prefetch(addr, byteLength, { to: 'device' });
      return (await space.dispatch(chase, { workgroups: 1, args: [head, out, NODES], demand: true })).demand!.passes;
    });
  }),
};

// ---- thrashing ----

const thrashing: Case = {
  policy: 'thrashing (pin)',
  counts: 'uploads',
  run: (pattern, on) => {
    const t = on ? { lapseMs: 10_000, pinMs: 10_000 } : false;
    if (pattern === 'ping-pong') {
      return withSpace(1 * MiB, 1 * MiB, { thrashing: t, densityPrefetch: false }, async (space, pool) => {
        const pages = 16;
        const a = space.alloc(pages * PS, { align: PS });
        await space.write(a, new Uint32Array((pages * PS) / 4));
        return measure(pool, async () => {
          const before = pool.stats().pagesToDevice;
          for (let r = 0; r < 16; r++) {
            await space.dispatch(affine, { workgroups: grid((pages * PS) / 4), write: [{ addr: a, byteLength: pages * PS }], args: [a, (pages * PS) / 4, 1, 1] });
            for (let p = 0; p < pages; p++) await space.write(a + p * PS, new Uint32Array([r]));
          }
          return pool.stats().pagesToDevice - before;
        });
      });
    }
    // Device-only: 3 sweeps of 16-page chunks over 4× the pool.
    const chunks = quick ? 16 : 64;
    const capacity = (chunks / 4) * 16 * PS;
    return withSpace(capacity, chunks * 16 * PS + 64 * PS, { thrashing: t, densityPrefetch: false }, async (space, pool) => {
      const a = space.alloc(chunks * 16 * PS, { align: PS });
      await space.write(a, new Uint32Array((chunks * 16 * PS) / 4));
      const seq = order(pattern, chunks);
      return measure(pool, async () => {
        const before = pool.stats().pagesToDevice;
        for (let sweep = 0; sweep < 3; sweep++) {
          for (const c of seq) {
            const addr = a + c * 16 * PS;
            await space.dispatch(affine, { workgroups: grid((16 * PS) / 4), write: [{ addr, byteLength: 16 * PS }], args: [addr, (16 * PS) / 4, 1, 1] });
          }
        }
        return pool.stats().pagesToDevice - before;
      });
    });
  },
};

// ---- preferred location ----

/** out[i] = hot[i % hotWords] + cold[i] over args [hot, hotWords, cold, out, n]; hotWords 0: out[i] = cold[i]. */
const hotCold = createKernel({
  label: 'bench:hot-cold',
  workgroupSize: 64,
  code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x + inv.global_id.y * inv.num_workgroups.x * 64u;
  if (i >= vm_arg_u32(4u)) { return; }
  var h = 0u;
  if (vm_arg_u32(1u) != 0u) { h = vm_load_u32(vm_arg_u32(0u) + (i % vm_arg_u32(1u)) * 4u); }
  vm_store_u32(vm_arg_u32(3u) + i * 4u, h + vm_load_u32(vm_arg_u32(2u) + i * 4u));
}`,
});

const preferredDevice: Case = {
  policy: 'preferred device',
  counts: 'uploads',
  run: (pattern, on) => {
    const hotPages = 32;
    const chunkPages = 16;
    const chunks = quick ? 16 : 48;
    // Every step streams a cold chunk into an out chunk (32 pages); every 4th step also reads the hot array.
    // The pool holds the hot array and 3 steps: between two uses of the hot array 4 steps stream through,
    // so CLOCK's second chance cannot keep it; the advice can.
    const capacity = (hotPages + 3 * 2 * chunkPages) * PS;
    return withSpace(capacity, (hotPages + 2 * chunks * chunkPages) * PS + 64 * PS, { thrashing: false, densityPrefetch: false }, async (space, pool) => {
      const hot = space.alloc(hotPages * PS, { align: PS });
      const cold = space.alloc(chunks * chunkPages * PS, { align: PS });
      const out = space.alloc(chunks * chunkPages * PS, { align: PS });
      await space.write(hot, new Uint32Array((hotPages * PS) / 4).fill(1));
      await space.write(cold, new Uint32Array((chunks * chunkPages * PS) / 4).fill(2));
      if (on) space.advise(hot, hotPages * PS, { preferredLocation: 'device' });
      const n = (chunkPages * PS) / 4;
      const step = (c: number, useHot: boolean) => space.dispatch(hotCold, {
        workgroups: grid(n), args: [hot, useHot ? (hotPages * PS) / 4 : 0, cold + c * chunkPages * PS, out + c * chunkPages * PS, n],
        read: [...(useHot ? [{ addr: hot, byteLength: hotPages * PS }] : []), { addr: cold + c * chunkPages * PS, byteLength: chunkPages * PS }],
        write: [{ addr: out + c * chunkPages * PS, byteLength: chunkPages * PS }],
      });
      if (pattern === 'ping-pong') {
        // The host rewrites a word of every hot page between dispatches that use it: written through with the advice, dropped without.
        return measure(pool, async () => {
          const before = pool.stats().pagesToDevice;
          for (let c = 0; c < chunks; c++) {
            await step(c % 2, true);
            for (let p = 0; p < hotPages; p++) await space.write(hot + p * PS, new Uint32Array([c]));
          }
          return pool.stats().pagesToDevice - before;
        });
      }
      const seq = order(pattern, chunks);
      return measure(pool, async () => {
        const before = pool.stats().pagesToDevice;
        for (let k = 0; k < seq.length; k++) await step(seq[k]!, k % 4 === 0);
        return pool.stats().pagesToDevice - before;
      });
    });
  },
};

const CASES: readonly Case[] = [densityPrefetch, thrashing, preferredDevice, explicitPrefetch];

const fmtB = (b: number) => (b >= MiB ? `${(b / MiB).toFixed(1)} MiB` : `${(b / KiB).toFixed(0)} KiB`);
const pad = (s: string, n: number) => s.padEnd(n);
const lpad = (s: string, n: number) => s.padStart(n);

console.log(`webgpu-hmm policies on ${gpu.adapterName}; ${quick ? 'quick' : 'full'}, median of ${reps} (after one warm-up each way)`);
console.log(`${pad('policy', 18)} ${pad('pattern', 11)} ${lpad('ms with', 9)} ${lpad('ms without', 11)} ${lpad('time ratio', 10)}  ${lpad('bytes with (→dev / →host)', 27)}  ${lpad('bytes without', 21)}  counts with / without`);
for (const c of CASES) {
  if (only && !only.some((o) => c.policy.includes(o))) continue;
  for (const pattern of PATTERNS) {
    const ms: Record<'on' | 'off', number[]> = { on: [], off: [] };
    const last: Record<'on' | 'off', Run | undefined> = { on: undefined, off: undefined };
    for (let r = -1; r < reps; r++) {
      for (const k of ['on', 'off'] as const) {
        const run = await c.run(pattern, k === 'on');
        if (r >= 0) ms[k].push(run.ms);
        last[k] = run;
      }
    }
    const on = last.on!;
    const off = last.off!;
    const mOn = median(ms.on);
    const mOff = median(ms.off);
    console.log(
      `${pad(c.policy, 18)} ${pad(pattern, 11)} ${lpad(mOn.toFixed(1), 9)} ${lpad(mOff.toFixed(1), 11)} ${lpad((mOn / mOff).toFixed(2), 10)}  ` +
        `${lpad(`${fmtB(on.toDevice)} / ${fmtB(on.toHost)}`, 27)}  ${lpad(`${fmtB(off.toDevice)} / ${fmtB(off.toHost)}`, 21)}  ${c.counts} ${on.count} / ${off.count}`,
    );
  }
}
gpu.destroy();
