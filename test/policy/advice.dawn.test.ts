// Advice on Dawn: preferred location changes which pages eviction takes;
// preferred-device and accessed-by-device pages keep their device copy
// through host writes (no re-upload), read-mostly ones never do; read-mostly
// ranges stay duplicated across dispatches and host reads; advice ends with
// its allocation; bad advice is refused loudly.

import { expect } from 'vitest';
import { testWithDevice, KiB } from '../helpers/gpu.ts';
import { affine, makeSpace, touchPages, u32 } from '../helpers/space.ts';
import { createKernel, InvalidArgumentError, OutOfRangeError, type Advice, type HmmEvent } from '../../src/index.ts';
import type { DeviceContext } from '../helpers/gpu.ts';
import { order, PATTERNS } from '../helpers/patterns.ts';

const PS = 4 * KiB;



/**
 * A and B (8 pages each) fill a 16-frame pool, dirty; then C (8 pages) needs 8 victims.
 * Returns how many of A's and of B's pages were evicted.
 */
async function evictionSplit(ctx: DeviceContext, advice: { a?: Advice; b?: Advice }): Promise<[number, number]> {
  const { pool, space } = await makeSpace(ctx, { capacity: 16 * PS, pageSize: PS }, 64 * PS, { thrashing: false });
  const [a, b, c] = [0, 1, 2].map(() => space.alloc(8 * PS, { align: PS }));
  if (advice.a) space.advise(a!, 8 * PS, advice.a);
  if (advice.b) space.advise(b!, 8 * PS, advice.b);
  for (const x of [a!, b!]) await space.dispatch(affine, { workgroups: 8 * 16, write: [{ addr: x, byteLength: 8 * PS }], args: [x, 8 * 1024, 1, 1] });
  const events: HmmEvent[] = [];
  pool.on((e) => events.push(e));
  await space.dispatch(affine, { workgroups: 8 * 16, write: [{ addr: c!, byteLength: 8 * PS }], args: [c!, 8 * 1024, 1, 1] });
  const evicted: number[] = [];
  for (const e of events) if (e.type === 'eviction') evicted.push(...e.pageList);
  expect(evicted).toHaveLength(8);
  space.checkInvariants();
  const inside = (x: number) => evicted.filter((p) => p >= x / PS && p < x / PS + 8).length;
  return [inside(a!), inside(b!)];
}

testWithDevice('preferred location decides which pages eviction takes; preferred-device pages still go as a last resort', async (ctx) => {
  const none = await evictionSplit(ctx, {});
  expect(none[0] + none[1]).toBe(8);
  expect(await evictionSplit(ctx, { a: { preferredLocation: 'device' } })).toEqual([0, 8]);
  expect(await evictionSplit(ctx, { b: { preferredLocation: 'device' } })).toEqual([8, 0]);
  expect(await evictionSplit(ctx, { a: { preferredLocation: 'host' } })).toEqual([8, 0]);
  expect(await evictionSplit(ctx, { b: { preferredLocation: 'host' } })).toEqual([0, 8]);
  // Both preferring the device: nothing else to evict, so they go anyway (progress), CLOCK as without advice.
  expect(await evictionSplit(ctx, { a: { preferredLocation: 'device' }, b: { preferredLocation: 'device' } })).toEqual(none);
  // Read-mostly and accessed-by do not change the order.
  expect(await evictionSplit(ctx, { a: { readMostly: true, accessedBy: 'device' } })).toEqual(none);
});

/** out[i] = cold[i] (+ hot[i % hotWords] when hotWords > 0) over args [hot, hotWords, cold, out, n]. */
const hotCold = createKernel({
  label: 'hot-cold',
  workgroupSize: 64,
  code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x;
  if (i >= vm_arg_u32(4u)) { return; }
  var h = 0u;
  if (vm_arg_u32(1u) != 0u) { h = vm_load_u32(vm_arg_u32(0u) + (i % vm_arg_u32(1u)) * 4u); }
  vm_store_u32(vm_arg_u32(3u) + i * 4u, h + vm_load_u32(vm_arg_u32(2u) + i * 4u));
}`,
});

testWithDevice('a hot array read every 4th dispatch while cold chunks stream through (sequential, strided, random): preferred device keeps it', async (ctx) => {
  for (const pattern of PATTERNS) {
    const uploads: number[] = [];
    for (const advised of [false, true]) {
      // 8 hot pages; each step streams a 4-page cold chunk into a 4-page out chunk; the pool holds the hot array and 3 steps.
      const { pool, space } = await makeSpace(ctx, { capacity: 32 * PS, pageSize: PS }, 160 * PS, { thrashing: false });
      const hot = space.alloc(8 * PS, { align: PS });
      const cold = space.alloc(64 * PS, { align: PS });
      const out = space.alloc(64 * PS, { align: PS });
      await space.write(hot, new Uint32Array(8 * 1024).fill(1000));
      await space.write(cold, new Uint32Array(64 * 1024).map((_, i) => i));
      if (advised) space.advise(hot, 8 * PS, { preferredLocation: 'device' });
      const before = pool.stats().pagesToDevice;
      const seq = order(pattern, 16);
      for (let k = 0; k < 16; k++) {
        const c = seq[k]! * 4 * PS;
        const useHot = k % 4 === 0;
        await space.dispatch(hotCold, {
          workgroups: 64, args: [hot, useHot ? 8 * 1024 : 0, cold + c, out + c, 4 * 1024],
          read: [...(useHot ? [{ addr: hot, byteLength: 8 * PS }] : []), { addr: cold + c, byteLength: 4 * PS }],
          write: [{ addr: out + c, byteLength: 4 * PS }],
        });
      }
      uploads.push(pool.stats().pagesToDevice - before);
      const got = u32(await space.read(out, 64 * PS));
      const k0 = seq.indexOf(0); // chunk 0's step: did it read the hot array?
      expect(got[5]).toBe(5 + (k0 % 4 === 0 ? 1000 : 0));
      space.checkInvariants();
    }
    // With the advice: every cold page once and the hot array once (64 + 8). Without: the hot array again.
    expect(uploads[1]).toBe(72);
    expect(uploads[0]).toBeGreaterThan(uploads[1]!);
  }
});

/** 4 resident device-dirty pages; the host writes a word into each; then a dispatch reads them. Returns the pages that dispatch uploaded. */
async function writeThenUse(ctx: DeviceContext, advice: Advice | undefined): Promise<{ uploads: number; dropped: number; writtenThrough: number }> {
  const { pool, space } = await makeSpace(ctx, { capacity: 64 * PS, pageSize: PS }, 64 * PS, { thrashing: false });
  const a = space.alloc(4 * PS, { align: PS });
  const out = space.alloc(PS, { align: PS });
  if (advice) space.advise(a, 4 * PS, advice);
  await space.dispatch(affine, { workgroups: 64, write: [{ addr: a, byteLength: 4 * PS }], args: [a, 4 * 1024, 1, 5] });
  await space.dispatch(affine, { workgroups: 16, write: [{ addr: out, byteLength: PS }], args: [out, 1024, 1, 0] });
  const events: HmmEvent[] = [];
  pool.on((e) => events.push(e));
  for (let p = 0; p < 4; p++) await space.write(a + p * PS, new Uint32Array([100 + p]));
  // expectNoFaults: a strict space fails the dispatch if it had to bring pages in.
  const keep = advice !== undefined && (advice.preferredLocation === 'device' || advice.accessedBy === 'device') &&
    advice.readMostly !== true && advice.preferredLocation !== 'host';
  await space.dispatch(touchPages, {
    workgroups: 1, read: [{ addr: a, byteLength: 4 * PS }], write: [{ addr: out, byteLength: 4 }], args: [a, 4, out], ...(keep ? { expectNoFaults: true } : {}),
  });
  const got = u32(await space.read(a, 4 * PS));
  for (let p = 0; p < 4; p++) expect([got[p * 1024], got[p * 1024 + 1]]).toEqual([100 + p, 5]);
  space.checkInvariants();
  let uploads = 0;
  let dropped = 0;
  let writtenThrough = 0;
  for (const e of events) {
    if (e.type === 'migration' && e.direction === 'to-device') uploads += e.pages;
    if (e.type === 'invalidation') {
      dropped += e.pagesDropped;
      writtenThrough += e.pagesWrittenThrough;
    }
  }
  return { uploads, dropped, writtenThrough };
}

testWithDevice('host writes: preferred-device and accessed-by-device pages keep their device copy (written through, no re-upload); read-mostly ones do not', async (ctx) => {
  expect(await writeThenUse(ctx, undefined)).toEqual({ uploads: 4, dropped: 4, writtenThrough: 0 });
  expect(await writeThenUse(ctx, { preferredLocation: 'device' })).toEqual({ uploads: 0, dropped: 0, writtenThrough: 4 });
  expect(await writeThenUse(ctx, { accessedBy: 'device' })).toEqual({ uploads: 0, dropped: 0, writtenThrough: 4 });
  expect(await writeThenUse(ctx, { preferredLocation: 'device', readMostly: true })).toEqual({ uploads: 4, dropped: 4, writtenThrough: 0 });
  expect(await writeThenUse(ctx, { preferredLocation: 'host', accessedBy: 'device' })).toEqual({ uploads: 4, dropped: 4, writtenThrough: 0 });
});

testWithDevice('read-mostly: both copies stay valid across dispatches and host reads; a host write invalidates, a device write collapses', async (ctx) => {
  const { pool, space } = await makeSpace(ctx, { capacity: 64 * PS, pageSize: PS }, 64 * PS);
  const a = space.alloc(4 * PS, { align: PS });
  const out = space.alloc(PS, { align: PS });
  await space.write(a, new Uint32Array(4 * 1024).fill(9));
  space.advise(a, 4 * PS, { readMostly: true });
  expect(space.advice(a + PS)).toEqual({ readMostly: true, preferredLocation: 'none', accessedBy: 'none' });
  const events: HmmEvent[] = [];
  pool.on((e) => events.push(e));
  const read = () => space.dispatch(touchPages, { workgroups: 1, read: [{ addr: a, byteLength: 4 * PS }], write: [{ addr: out, byteLength: 4 }], args: [a, 4, out] });
  for (let i = 0; i < 4; i++) {
    await read();
    expect(u32(await space.read(a, 16))[0]).toBe(9);
  }
  const moves = events.filter((e) => e.type === 'migration' && e.pageList.some((p) => p >= a / PS && p < a / PS + 4));
  expect(moves.map((e) => e.type === 'migration' && `${e.direction}:${e.pages}`)).toEqual(['to-device:4']); // once, then duplicated
  expect(space.residency(a, 4 * PS)).toMatchObject({ shared: 4, residentBytes: 4 * PS });
  await space.write(a, new Uint32Array([1]));
  expect(space.pageState(a)).toBe('host'); // the host write invalidated the device copy
  expect(space.pageState(a + PS)).toBe('shared');
  await space.dispatch(affine, { workgroups: 16, write: [{ addr: a + PS, byteLength: PS }], args: [a + PS, 1024, 1, 1] });
  expect(space.pageState(a + PS)).toBe('device'); // one copy: the device's
  expect(u32(await space.read(a + PS, 4))[0]).toBe(10);
  space.checkInvariants();
});

testWithDevice('advice is per page, ends with its allocation, and is refused loudly when it is not advice', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 16 * PS, pageSize: PS }, 64 * PS);
  const a = space.alloc(4 * PS, { align: PS });
  const b = space.alloc(PS, { align: PS });
  space.advise(a + 10, 1, { preferredLocation: 'device' }); // one byte advises its whole page
  expect(space.advice(a).preferredLocation).toBe('device');
  expect(space.advice(a + PS).preferredLocation).toBe('none');
  space.advise(a, 4 * PS, { accessedBy: 'device' });
  space.advise(b, PS, { readMostly: true });
  space.free(a);
  expect(space.advice(a)).toEqual({ readMostly: false, preferredLocation: 'none', accessedBy: 'none' });
  expect(space.advice(a + 3 * PS).accessedBy).toBe('none');
  expect(space.advice(b).readMostly).toBe(true); // another allocation keeps its advice
  expect(() => space.advise(0, 65 * PS, { readMostly: true })).toThrow(OutOfRangeError);
  expect(() => space.advise(0, 0, { readMostly: true })).toThrow(InvalidArgumentError);
  expect(() => space.advise(0, PS, { preferredLocation: 'gpu' } as never)).toThrow(/'host', 'device' or 'none'/);
  expect(() => space.advise(0, PS, {} as never)).toThrow(/no advice given/);
  expect(() => space.advice(64 * PS)).toThrow(OutOfRangeError);
  space.checkInvariants();
});
