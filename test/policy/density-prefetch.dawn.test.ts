// Density prefetch on Dawn: a single invocation chases a linked list laid out
// in one of three patterns (sequential, strided, random), demand-paged, so
// each pass can find only the next page (its address comes from the page
// before); and a ping-pong of demand dispatches and host writes. Counts of
// passes, fault batches and pages moved by cause, from the event stream, with
// and without the policy.

import { expect } from 'vitest';
import { testWithDevice, KiB, MiB } from '../helpers/gpu.ts';
import { affine, makeSpace, u32 } from '../helpers/space.ts';
import type { Advice, HmmEvent } from '../../src/index.ts';
import type { DeviceContext } from '../helpers/gpu.ts';
import { buildList, chase, type Pattern } from '../helpers/patterns.ts';

const PS = 4 * KiB;

interface Counts {
  passes: number;
  faultBatches: number;
  toDevice: Record<string, number>;
  densityPrefetched: number;
}

async function run(ctx: DeviceContext, pattern: Pattern, densityPrefetch: boolean, nodes = 64, advice?: Advice): Promise<Counts> {
  const { pool, space } = await makeSpace(ctx, { capacity: 1 * MiB, pageSize: PS }, 2 * nodes * PS + 8 * PS, { densityPrefetch, thrashing: false });
  const list = await buildList(space, pattern, nodes);
  if (advice) space.advise(list.addr, list.byteLength, advice);
  const events: HmmEvent[] = [];
  pool.on((e) => events.push(e));
  const r = await space.dispatch(chase, { workgroups: 1, args: [list.head, list.out, nodes], demand: true });
  expect([...u32(await space.read(list.out, 8))]).toEqual([list.sum, nodes]);
  space.checkInvariants();
  const toDevice: Record<string, number> = {};
  for (const e of events) if (e.type === 'migration' && e.direction === 'to-device') toDevice[e.cause] = (toDevice[e.cause] ?? 0) + e.pages + e.cleared;
  const passes = events.filter((e) => e.type === 'pass').length;
  expect(passes).toBe(r.demand!.passes);
  return { passes, faultBatches: events.filter((e) => e.type === 'fault-batch').length, toDevice, densityPrefetched: r.demand!.pagesDensityPrefetched };
}

testWithDevice('density prefetch: a sequential chase takes a few passes instead of one a page; every page still moves once', async (ctx) => {
  const off = await run(ctx, 'sequential', false);
  const on = await run(ctx, 'sequential', true);
  // One page found per pass without it: 64 list pages and the output page.
  expect(off.passes).toBeGreaterThanOrEqual(65);
  expect(off.toDevice['prefetch'] ?? 0).toBe(0);
  expect(on.passes * 4).toBeLessThan(off.passes);
  expect(on.faultBatches * 4).toBeLessThan(off.faultBatches);
  expect(on.toDevice['prefetch']).toBe(on.densityPrefetched);
  // Nothing fetched that the chase did not need: list pages plus the output page, each once.
  expect((on.toDevice['demand'] ?? 0) + on.toDevice['prefetch']!).toBe(off.toDevice['demand']);
});

testWithDevice('density prefetch: a stride-2 chase never fills half a subtree and fetches nothing extra', async (ctx) => {
  const off = await run(ctx, 'strided', false);
  const on = await run(ctx, 'strided', true);
  expect(on.toDevice['prefetch'] ?? 0).toBe(0);
  expect(on.passes).toBe(off.passes);
  expect(on.toDevice).toEqual(off.toDevice);
});

testWithDevice('density prefetch: a random chase fetches subtrees once most of them is touched, in fewer passes', async (ctx) => {
  const off = await run(ctx, 'random', false);
  const on = await run(ctx, 'random', true);
  expect(on.toDevice['prefetch']).toBeGreaterThan(0);
  expect(on.passes).toBeLessThan(off.passes);
  // A permutation visits every page, so nothing prefetched is wasted: the same pages move in all.
  expect((on.toDevice['demand'] ?? 0) + on.toDevice['prefetch']!).toBe(off.toDevice['demand']);
});

testWithDevice('density prefetch leaves declared dispatches alone: the same migrations with it on and off', async (ctx) => {
  const moved: string[][] = [];
  for (const densityPrefetch of [false, true]) {
    const { pool, space } = await makeSpace(ctx, { capacity: 256 * KiB, pageSize: PS }, 1 * MiB, { densityPrefetch });
    const a = space.alloc(512 * KiB, { align: PS });
    await space.write(a, new Uint32Array((512 * KiB) / 4).fill(3));
    const events: string[] = [];
    pool.on((e) => {
      if (e.type === 'migration') events.push(`${e.direction}:${e.cause}:${[...e.pageList].join(',')}`);
    });
    // Chunks of 96 KiB, 3/4 of each 128 KiB subtree: demand mode would fill in the rest.
    for (let off = 0; off < 512 * KiB; off += 128 * KiB) {
      await space.dispatch(affine, { workgroups: (96 * KiB) / 256, write: [{ addr: a + off, byteLength: 96 * KiB }], args: [a + off, (96 * KiB) / 4, 2, 1] });
    }
    expect(events.some((e) => e.includes(':prefetch:'))).toBe(false);
    moved.push(events);
  }
  expect(moved[1]).toEqual(moved[0]);
});

testWithDevice('density prefetch never fetches pages whose preferred location is the host', async (ctx) => {
  const off = await run(ctx, 'sequential', false);
  const on = await run(ctx, 'sequential', true, 64, { preferredLocation: 'host' });
  expect(on.toDevice['prefetch'] ?? 0).toBe(0);
  expect(on.passes).toBe(off.passes);
});

testWithDevice('density prefetch on ping-pong (demand dispatches and host writes, round after round): the same passes and migrations', async (ctx) => {
  const counts: string[][] = [];
  for (const densityPrefetch of [false, true]) {
    const { pool, space } = await makeSpace(ctx, { capacity: 256 * KiB, pageSize: PS }, 256 * KiB, { densityPrefetch, thrashing: false });
    const a = space.alloc(8 * PS, { align: PS });
    await space.write(a, new Uint32Array(8 * 1024));
    const events: string[] = [];
    pool.on((e) => {
      if (e.type === 'migration') events.push(`${e.direction}:${e.cause}:${e.pages}+${e.cleared}`);
      if (e.type === 'pass') events.push(`pass:${e.mode}`);
    });
    for (let r = 0; r < 4; r++) {
      await space.dispatch(affine, { workgroups: 128, args: [a, 8 * 1024, 1, 1], demand: true });
      for (let p = 0; p < 8; p++) await space.write(a + p * PS, new Uint32Array([r]));
    }
    expect(u32(await space.read(a + PS, 8))[1]).toBe(4);
    counts.push(events);
  }
  // All 8 pages fault in one batch each round: nothing is left for the tree to add.
  expect(counts[1]).toEqual(counts[0]);
});
