// Out of memory and recovery with memory groups. createGroup promises that the
// groups' min fit the pool together (so "a group at or under its min is never
// evicted by another" can always be kept); what happens when the pool later
// gets smaller:
//
//   - an out-of-memory shrink that keeps the sum of the mins goes ahead; a max
//     that no longer fits is cut to the capacity in force (usage(), budget(),
//     the pressure monitor), and the mins still protect;
//   - one that would go below the sum is refused, as a shrink that would take a
//     pinned page is: the allocation fails with GpuOutOfMemoryError naming the
//     numbers, nothing changes, and the pool goes on (no retry loop, no hang);
//   - recover() onto a device too small for the mins, or for the pins, is
//     refused and the pool stays lost; unpinning works while lost, so the pins
//     can be made to fit.

import { expect } from 'vitest';
import { testWithDevice, KiB, type DeviceContext } from '../helpers/gpu.ts';
import { affine, u32 } from '../helpers/space.ts';
import { failAllocations, spareDevice, within } from '../helpers/inject.ts';
import {
  createGroup, createPool, createSpace, DeviceLostError, GpuOutOfMemoryError, WorkingSetTooLargeError,
  type AddressSpace, type GroupOptions, type MemoryGroup, type Pool, type PoolBudget, type PoolOptions,
} from '../../src/index.ts';

const P = 4 * KiB;
const W = P / 4;
const SETTLE_MS = 20_000;
/** Two windows of 4 pages; uploads by writeBuffer, so that the read-back ring is the first buffer made after the windows. */
const TWO_WINDOWS: PoolOptions = { capacity: 8 * P, pageSize: P, maxWindowSize: 4 * P, uploadPath: 'writeBuffer' };

interface Tenant {
  readonly space: AddressSpace;
  readonly group: MemoryGroup | undefined;
  readonly ref: Uint32Array;
}

interface World {
  readonly pool: Pool;
  readonly a: Tenant;
  readonly b: Tenant;
  readonly root: Tenant;
}

/** Groups a and b with the given limits and a root space, each with 16 pages written; `pages` of each made device-only. */
async function world(ctx: DeviceContext, a: GroupOptions, b: GroupOptions, pages: [number, number, number], pool: PoolOptions = TWO_WINDOWS): Promise<World> {
  const p = ctx.track(await createPool(ctx.device, pool));
  const tenant = async (label: string, options: GroupOptions | undefined, n: number, seed: number): Promise<Tenant> => {
    const group = options ? createGroup(p, { label, ...options }) : undefined;
    const space = ctx.track(createSpace(p, { size: 16 * P, strict: true, label, ...(group ? { group } : {}) }));
    const ref = Uint32Array.from({ length: 16 * W }, (_, i) => i * seed);
    await space.write(0, ref);
    await dirty({ space, group, ref }, 0, n);
    return { space, group, ref };
  };
  return { pool: p, a: await tenant('a', a, pages[0], 3), b: await tenant('b', b, pages[1], 5), root: await tenant('root-space', undefined, pages[2], 7) };
}

/** a = a·2 + 1 over pages [first, first + n) of the tenant's space. */
async function dirty(t: Tenant, first: number, n: number): Promise<void> {
  if (n === 0) return;
  await t.space.dispatch(affine, { workgroups: n * 16, write: [{ addr: first * P, byteLength: n * P }], args: [first * P, n * W, 2, 1] });
  for (let i = first * W; i < (first + n) * W; i++) t.ref[i] = (t.ref[i]! * 2 + 1) >>> 0;
}

async function expectIntact(w: World): Promise<void> {
  for (const t of [w.a, w.b, w.root]) {
    expect(u32(await within(t.space.read(0, 16 * P), SETTLE_MS, 'a read')), t.space.label).toEqual(t.ref);
    t.space.checkInvariants();
  }
}

function expectConsistent(b: PoolBudget): void {
  expect(b.used + b.free).toBe(b.capacity);
  expect(b.perGroup.reduce((s, g) => s + g.used, 0)).toBe(b.used);
  expect(b.perGroup.reduce((s, g) => s + g.min, 0)).toBeLessThanOrEqual(b.capacity);
  for (const g of b.perGroup) {
    expect(g.max, `group ${g.label}`).toBeLessThanOrEqual(b.capacity);
    expect(g.used, `group ${g.label}`).toBeLessThanOrEqual(g.max);
    expect(g.free).toBe(g.max - g.used);
    expect(g.pinLimit, `group ${g.label}`).toBeLessThanOrEqual(g.max);
  }
}

/** Fail the first read-back ring buffer the pool makes from now on (once). */
function failReadbackOnce(ctx: DeviceContext): { readonly failed: string[] } {
  let first = true;
  return failAllocations(ctx.device, (d) => {
    const hit = first && (d.label ?? '').includes(':readback[');
    if (hit) first = false;
    return hit;
  });
}

testWithDevice('a shrink that keeps the groups\' min goes ahead: a max over the new capacity is cut to it, and the mins still protect', async (ctx) => {
  const w = await world(ctx, { max: 6 * P, min: 2 * P }, { min: 2 * P }, [4, 2, 2]);
  expect(w.pool.budget().perGroup.map((g) => [g.label, g.max, g.used])).toEqual([['root', 8 * P, 2 * P], ['a', 6 * P, 4 * P], ['b', 8 * P, 2 * P]]);
  const inj = failReadbackOnce(ctx);
  await expectIntact(w);
  expect(inj.failed).toEqual(['hmm:readback[0]']);
  expect(w.pool.stats()).toMatchObject({ shrinks: 1, capacity: 4 * P, frameCount: 4 });
  const b = w.pool.budget();
  expectConsistent(b);
  // The limits in force: a's max of 6 pages is cut to the pool's 4; b's (the old capacity) too; the mins are kept.
  expect(b.perGroup.map((g) => [g.label, g.max, g.min])).toEqual([['root', 4 * P, 0], ['a', 4 * P, 2 * P], ['b', 4 * P, 2 * P]]);
  expect(w.a.group!.max).toBe(6 * P); // as created
  // Fill the pool from b and a (2 pages each): both at their min. Then neither may take from the other, nor
  // the root space from either.
  await dirty(w.b, 0, 2);
  await dirty(w.a, 0, 2);
  expect(w.pool.budget().perGroup.map((g) => g.used)).toEqual([0, 2 * P, 2 * P]);
  const tooBig = await w.a.space.dispatch(affine, { workgroups: 3 * 16, write: [{ addr: 0, byteLength: 3 * P }], args: [0, 3 * W, 1, 1] }).catch((x: unknown) => x);
  expect(tooBig).toBeInstanceOf(WorkingSetTooLargeError);
  expect((tooBig as Error).message).toMatch(/other memory groups hold 8192 bytes that it may not evict/);
  const rootErr = await w.root.space.dispatch(affine, { workgroups: 16, write: [{ addr: 0, byteLength: P }], args: [0, W, 1, 1] }).catch((x: unknown) => x);
  expect(rootErr).toBeInstanceOf(WorkingSetTooLargeError);
  // Within its min, each tenant goes on: a's pages 2–3 replace its own 0–1. (The 2 pages of a that others
  // evicted are the ones b took above, while a was over its min.)
  await dirty(w.a, 2, 2);
  expect(w.pool.budget().perGroup.map((g) => [g.used, g.evictedByOthers])).toEqual([[0, 0], [2 * P, 2], [2 * P, 0]]);
  expectConsistent(w.pool.budget());
  await expectIntact(w);
});

testWithDevice('a shrink that would go below the groups\' min is refused: the allocation fails typed, nothing moves, and the pool goes on', async (ctx) => {
  const w = await world(ctx, { max: 6 * P, min: 3 * P }, { min: 2 * P }, [4, 2, 2]);
  const before = { stats: w.pool.stats(), budget: w.pool.budget(), residency: [w.a, w.b, w.root].map((t) => t.space.residency()) };
  const inj = failReadbackOnce(ctx);
  const e = await within(w.a.space.read(0, 4 * P).catch((x: unknown) => x), SETTLE_MS, 'the read');
  expect(inj.failed).toEqual(['hmm:readback[0]']);
  expect(e).toBeInstanceOf(GpuOutOfMemoryError);
  expect((e as Error).message).toMatch(
    /its last window cannot be given back: the pool would hold 16384 bytes, less than the 20480 bytes its memory groups' min add up to.*; use a smaller pool capacity or smaller stagingSlotSize, or free device memory/,
  );
  const after = { stats: w.pool.stats(), budget: w.pool.budget(), residency: [w.a, w.b, w.root].map((t) => t.space.residency()) };
  expect(after).toEqual(before);
  // The device has memory again: the same read works, and so does everything else.
  await expectIntact(w);
  expect(w.pool.stats()).toMatchObject({ shrinks: 0, capacity: 8 * P });
  await dirty(w.a, 4, 2);
  expectConsistent(w.pool.budget());
  await expectIntact(w);
});

testWithDevice('a device that keeps refusing: every read fails typed at once (no hang, no shrink below the mins); groups without min let the pool shrink', async (ctx) => {
  const w = await world(ctx, { min: 3 * P }, { min: 2 * P }, [3, 2, 3]);
  let refuse = true;
  failAllocations(ctx.device, (d) => refuse && (d.label ?? '').includes(':readback['));
  for (let i = 0; i < 3; i++) {
    const e = await within(w.b.space.read(0, P).catch((x: unknown) => x), SETTLE_MS, `read ${i}`);
    expect(e).toBeInstanceOf(GpuOutOfMemoryError);
  }
  expect(w.pool.stats().shrinks).toBe(0);
  refuse = false;
  await expectIntact(w);
  // The same pressure with mins that fit half the pool: it shrinks and the read completes.
  const v = await world(ctx, { min: 2 * P }, { min: 2 * P }, [3, 2, 3]);
  failReadbackOnce(ctx);
  await expectIntact(v);
  expect(v.pool.stats()).toMatchObject({ shrinks: 1, capacity: 4 * P });
  expectConsistent(v.pool.budget());
});

testWithDevice('recover onto a device too small for the groups\' min is refused and the pool stays lost; a larger one works', async (ctx) => {
  const w = await world(ctx, { min: 3 * P }, { min: 2 * P }, [2, 1, 0]);
  ctx.device.destroy();
  const small = await spareDevice(ctx);
  failAllocations(small.device, (d) => /:window\[[1-9]/.test(d.label ?? ''));
  const e = await within(w.pool.recover(small.device).catch((x: unknown) => x), SETTLE_MS, 'recover');
  expect(e).toBeInstanceOf(GpuOutOfMemoryError);
  expect((e as Error).message).toMatch(/its memory groups' min add up to 20480 bytes, which must fit; recover on a device with more memory/);
  await expect(w.b.space.write(0, new Uint8Array(4))).rejects.toBeInstanceOf(DeviceLostError);
  const report = await within(w.pool.recover((await spareDevice(ctx)).device), SETTLE_MS, 'recover');
  expect(report.capacity).toBe(8 * P);
  expectConsistent(w.pool.budget());
  // Lost pages hold their last host bytes: the tenants' dispatched pages are their setup values again.
  for (const [t, n, seed] of [[w.a, 2, 3], [w.b, 1, 5]] as const) for (let i = 0; i < n * W; i++) t.ref[i] = i * seed;
  await expectIntact(w);
});

testWithDevice('recover onto a device too small for the pins: unpin while lost, then the same device takes the pool', async (ctx) => {
  const pool = ctx.track(await createPool(ctx.device, { ...TWO_WINDOWS, pinLimit: 8 * P }));
  const g = createGroup(pool, { label: 'pinner', pinLimit: 6 * P });
  const s = ctx.track(createSpace(pool, { size: 16 * P, strict: true, group: g }));
  const ref = Uint32Array.from({ length: 16 * W }, (_, i) => i + 11);
  await s.write(0, ref);
  await s.pin(0, 5 * P);
  ctx.device.destroy();
  const small = await spareDevice(ctx);
  failAllocations(small.device, (d) => /:window\[[1-9]/.test(d.label ?? ''));
  const e = await within(pool.recover(small.device).catch((x: unknown) => x), SETTLE_MS, 'recover');
  expect(e).toBeInstanceOf(GpuOutOfMemoryError);
  expect((e as Error).message).toMatch(/its 20480 pinned bytes must be resident; unpin some \(unpin works while the device is lost\)/);
  s.unpin(4 * P, P); // while lost
  expect(() => s.unpin(4 * P, P)).toThrow(/unpin only ranges you pinned/);
  const report = await within(pool.recover(small.device), SETTLE_MS, 'recover');
  expect([report.capacity, report.pagesRepinned]).toEqual([4 * P, 4]);
  const b = pool.budget();
  expectConsistent(b);
  expect([b.pinned, g.usage().pinned, g.usage().used]).toEqual([4 * P, 4 * P, 4 * P]);
  expect(u32(await s.read(0, 16 * P))).toEqual(ref);
  s.checkInvariants();
});
