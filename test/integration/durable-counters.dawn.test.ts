// A durable space with access counters: a declared dispatch writes home, before
// it settles, what it made device-dirty — and with access counters that is only
// the pages the kernel really wrote, not every page of its declared write
// range. The bytes are counted by the pool's counters and, by page, from the
// 'durable' migration events. A device loss right after the dispatch, or
// during its write-home, loses nothing.

import { expect } from 'vitest';
import { testWithDevice, KiB } from '../helpers/gpu.ts';
import { coreOf, poolImpl, u32 } from '../helpers/space.ts';
import { spareDevice, within } from '../helpers/inject.ts';
import { createKernel, createPool, createSpace, DeviceLostError, type AddressSpace, type Pool } from '../../src/index.ts';
import type { DeviceContext } from '../helpers/gpu.ts';

const P = 4 * KiB;
const W = P / 4;
const PAGES = 16;

/** Every `stride`-th page of [base, base + pages·P): w = w·3 + 1. args: [base, pages, stride]. */
const sparse = createKernel({
  label: 'sparse-update',
  workgroupSize: 64,
  code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let w = inv.global_id.x;
  if (w >= ${W}u) { return; }
  for (var p = 0u; p < vm_arg_u32(1u); p += vm_arg_u32(2u)) {
    let a = vm_arg_u32(0u) + p * ${P}u + w * 4u;
    vm_store_u32(a, vm_load_u32(a) * 3u + 1u);
  }
}`,
});

interface World {
  readonly pool: Pool;
  readonly space: AddressSpace;
  readonly ref: Uint32Array;
  /** Pages listed by 'durable' migrations to the host, in order. */
  readonly durablePages: number[];
}

async function world(ctx: DeviceContext, accessCounters: boolean): Promise<World> {
  const pool = ctx.track(await createPool(ctx.device, { capacity: 32 * P, pageSize: P, accessCounters }));
  const space = ctx.track(createSpace(pool, { size: 2 * PAGES * P, strict: true, durable: true }));
  const ref = Uint32Array.from({ length: 2 * PAGES * W }, (_, i) => (i < PAGES * W ? i : 0));
  await space.write(0, ref.subarray(0, PAGES * W));
  const durablePages: number[] = [];
  pool.on((e) => {
    if (e.type === 'migration' && e.direction === 'to-host' && e.cause === 'durable') durablePages.push(...e.pageList);
  });
  return { pool, space, ref, durablePages };
}

/** Declare all 16 pages written; write every 4th (pages 0, 4, 8, 12). */
async function update(w: World): Promise<void> {
  await w.space.dispatch(sparse, { workgroups: W / 64, write: [{ addr: 0, byteLength: PAGES * P }], args: [0, PAGES, 4] });
  for (let p = 0; p < PAGES; p += 4) for (let i = p * W; i < (p + 1) * W; i++) w.ref[i] = (w.ref[i]! * 3 + 1) >>> 0;
}

testWithDevice('durable with access counters: a dispatch that writes 4 of its 16 declared pages writes home 4 pages, not 16', async (ctx) => {
  const moved: Record<string, { bytes: number; pages: number[]; kept: number }> = {};
  for (const accessCounters of [true, false]) {
    const w = await world(ctx, accessCounters);
    const before = w.pool.stats().bytesToHost;
    await update(w);
    expect(w.space.residency().device, 'nothing device-only once a durable dispatch settles').toBe(0);
    moved[String(accessCounters)] = { bytes: w.pool.stats().bytesToHost - before, pages: [...w.durablePages], kept: w.pool.stats().pagesKeptClean };
    expect(u32(await w.space.read(0, 2 * PAGES * P))).toEqual(w.ref);
    w.space.checkInvariants();
  }
  expect(moved['true']).toEqual({ bytes: 4 * P, pages: [0, 4, 8, 12], kept: 12 });
  expect(moved['false']).toEqual({ bytes: PAGES * P, pages: Array.from({ length: PAGES }, (_, i) => i), kept: 0 });
});

testWithDevice('durable with access counters: a loss right after the dispatch loses nothing; recover and every byte is there', async (ctx) => {
  const w = await world(ctx, true);
  await update(w);
  ctx.device.destroy();
  const e = await within(w.space.dispatch(sparse, { workgroups: 1, write: [{ addr: 0, byteLength: P }], args: [0, 1, 1] }).catch((x: unknown) => x), 20_000, 'a dispatch after the loss');
  expect(e).toBeInstanceOf(DeviceLostError);
  expect((e as DeviceLostError).lostRanges).toEqual([]);
  // While lost, every byte reads back from the host.
  expect(u32(await w.space.read(0, 2 * PAGES * P))).toEqual(w.ref);
  const report = await w.pool.recover((await spareDevice(ctx)).device);
  expect(report.spaces).toEqual([{ label: 'space', spaceId: coreOf(w.space).id, lostRanges: [] }]);
  expect(u32(await w.space.read(0, 2 * PAGES * P))).toEqual(w.ref);
  w.durablePages.length = 0;
  await update(w); // on the new device: the same four pages go home
  expect(w.durablePages).toEqual([0, 4, 8, 12]);
  expect(u32(await w.space.read(0, 2 * PAGES * P))).toEqual(w.ref);
  w.space.checkInvariants();
});

testWithDevice('durable with access counters: a loss during the write-home fails the dispatch, which then changed nothing', async (ctx) => {
  const w = await world(ctx, true);
  await update(w);
  // The next dispatch's write-home is its first read-back: lose the device as soon as it is issued.
  const t = poolImpl(w.pool).transfer as unknown as Record<string, (...a: unknown[]) => Promise<void>>;
  const readback = t['readback']!.bind(t);
  let calls = 0;
  t['readback'] = (...a: unknown[]) => {
    const r = readback(...a);
    if (++calls === 1) ctx.device.destroy();
    return r;
  };
  const e = await within(w.space.dispatch(sparse, { workgroups: W / 64, write: [{ addr: 0, byteLength: PAGES * P }], args: [0, PAGES, 4] }).catch((x: unknown) => x), 20_000, 'the dispatch');
  expect(calls).toBe(1);
  expect(e).toBeInstanceOf(DeviceLostError);
  expect((e as DeviceLostError).lostRanges).toEqual([]);
  // Its pages hold what they held before it: the reference was not updated for it.
  expect(w.space.residency().device).toBe(0);
  expect(u32(await w.space.read(0, 2 * PAGES * P))).toEqual(w.ref);
  await w.pool.recover((await spareDevice(ctx)).device);
  expect(u32(await w.space.read(0, 2 * PAGES * P))).toEqual(w.ref);
  await update(w);
  expect(u32(await w.space.read(0, 2 * PAGES * P))).toEqual(w.ref);
  w.space.checkInvariants();
});
