// Density prefetch on Dawn: a single invocation chases a linked list laid out
// in one of three patterns (sequential, strided, random), demand-paged, so
// each pass can find only the next page (its address comes from the page
// before). Counts of passes, fault batches and pages moved by cause, from the
// event stream, with and without the policy.

import { expect } from 'vitest';
import { testWithDevice, KiB, MiB } from '../helpers/gpu.ts';
import { affine, makeSpace, u32 } from '../helpers/space.ts';
import { createKernel, type Advice, type HmmEvent } from '../../src/index.ts';
import type { DeviceContext } from '../helpers/gpu.ts';

const PS = 4 * KiB;

/** Walk the list from args[0], summing word 1 of each node; write [sum, nodes] to args[1]. */
const chase = createKernel({
  label: 'chase',
  workgroupSize: 1,
  idempotent: true,
  code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  var p = vm_arg_u32(0u);
  var sum = 0u;
  var n = 0u;
  loop {
    if (p == 0u || n >= vm_arg_u32(2u)) { break; }
    sum = sum + vm_load_u32(p + 4u);
    p = vm_load_u32(p);
    n = n + 1u;
  }
  vm_store_u32(vm_arg_u32(1u), sum);
  vm_store_u32(vm_arg_u32(1u) + 4u, n);
}`,
});

type Pattern = 'sequential' | 'strided' | 'random';

/** Page offsets (within the list's region) of the nodes, in visiting order. */
function layout(pattern: Pattern, nodes: number): number[] {
  if (pattern === 'sequential') return Array.from({ length: nodes }, (_, i) => i);
  if (pattern === 'strided') return Array.from({ length: nodes }, (_, i) => 2 * i);
  const order = Array.from({ length: nodes }, (_, i) => i);
  let x = 2024;
  for (let i = nodes - 1; i > 0; i--) {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    const j = x % (i + 1);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order;
}

interface Counts {
  passes: number;
  faultBatches: number;
  toDevice: Record<string, number>;
  densityPrefetched: number;
}

async function run(ctx: DeviceContext, pattern: Pattern, densityPrefetch: boolean, nodes = 64, advice?: Advice): Promise<Counts> {
  const region = (pattern === 'strided' ? 2 : 1) * nodes * PS;
  const { pool, space } = await makeSpace(ctx, { capacity: 1 * MiB, pageSize: PS }, region + 8 * PS, { densityPrefetch, thrashing: false });
  const list = space.alloc(region, { align: PS, label: 'list' });
  const out = space.alloc(16, { align: PS, label: 'out' });
  if (advice) space.advise(list, region, advice);
  const at = layout(pattern, nodes).map((pg) => list + pg * PS);
  let want = 0;
  await space.withView(list, region, 'write', (v) => {
    const w = u32(v);
    for (let i = 0; i < nodes; i++) {
      const word = (at[i]! - list) / 4;
      w[word] = i + 1 < nodes ? at[i + 1]! : 0;
      w[word + 1] = i * 7 + 1;
      want += i * 7 + 1;
    }
  });
  const events: HmmEvent[] = [];
  pool.on((e) => events.push(e));
  const r = await space.dispatch(chase, { workgroups: 1, args: [at[0]!, out, nodes], demand: true });
  expect([...u32(await space.read(out, 8))]).toEqual([want >>> 0, nodes]);
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
