// Strict mode on a real device: host writes that bypassed the runtime are
// found before the next dispatch, with their ranges, and the space is coherent
// afterwards; expectNoFaults dispatches that fault are reported; nothing the
// runtime itself does (uploads, write-backs, evictions, write-through,
// rollbacks) trips it.

import { expect } from 'vitest';
import { testWithDevice, KiB } from '../helpers/gpu.ts';
import { affine, copyKernel, inPlace, u32 } from '../helpers/space.ts';
import {
  createPool, createSpace, HostBypassError, InvalidArgumentError, UnexpectedFaultError, type AddressSpace, type HmmEvent,
} from '../../src/index.ts';
import type { DeviceContext } from '../helpers/gpu.ts';

async function strictSpace(ctx: DeviceContext, capacity = 64 * KiB, strict = true): Promise<AddressSpace> {
  const pool = ctx.track(await createPool(ctx.device, { capacity, pageSize: 4 * KiB }));
  return ctx.track(createSpace(pool, { size: 256 * KiB, strict }));
}

/** A view kept past its callback: the bypass strict mode exists to catch. */
async function keepView(space: AddressSpace, addr: number, byteLength: number): Promise<Uint32Array> {
  let kept!: Uint8Array;
  await space.withView(addr, byteLength, 'write', (v) => {
    kept = v;
  });
  return u32(kept);
}

testWithDevice('strict: a write through a kept view to a shared page is found before the next dispatch; the host bytes win', async (ctx) => {
  const space = await strictSpace(ctx);
  const src = space.alloc(8 * KiB, { align: 4 * KiB });
  const dst = space.alloc(8 * KiB, { align: 4 * KiB });
  const view = await keepView(space, src, 8 * KiB);
  view.fill(1);
  const copy = { workgroups: 32, read: [{ addr: src, byteLength: 8 * KiB }], write: [{ addr: dst, byteLength: 8 * KiB }], args: [src, dst, 2048] };
  await space.dispatch(copyKernel, copy); // src pages now shared (valid on both sides)
  expect(space.pageState(src)).toBe('shared');
  view[1024 + 3] = 42; // second page of src, behind the runtime's back
  const events: HmmEvent[] = [];
  space.pool.on((e) => events.push(e));
  const err = await space.dispatch(copyKernel, copy).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(HostBypassError);
  const e = err as HostBypassError;
  expect(e.code).toBe('HOST_BYPASS');
  expect(e.ranges).toEqual([{ addr: src + 4 * KiB, byteLength: 4 * KiB }]);
  expect(e.conflicting).toEqual([]);
  expect(e.message).toMatch(/space\.write\(\)|withView/);
  expect(events.find((x) => x.type === 'bypass')).toMatchObject({ ranges: e.ranges });
  // The host bytes were adopted: the device copy is gone, and the next dispatch copies the new value.
  expect(space.pageState(src + 4 * KiB)).toBe('host');
  expect(space.pageState(src)).toBe('shared');
  await space.dispatch(copyKernel, copy);
  const out = u32(await space.read(dst, 8 * KiB));
  expect(out[1024 + 3]).toBe(42);
  expect(out[0]).toBe(1);
  space.checkInvariants();
});

testWithDevice('strict: scribbling on the stale host copy of a device-dirty page is reported as conflicting; the device data stays', async (ctx) => {
  const space = await strictSpace(ctx);
  const a = space.alloc(4 * KiB, { align: 4 * KiB });
  const view = await keepView(space, a, 4 * KiB);
  view.fill(2);
  const aff = { workgroups: 16, write: [{ addr: a, byteLength: 4 * KiB }], args: [a, 1024, 10, 1] };
  await space.dispatch(affine, aff); // device: 21, host copy stale (2)
  expect(space.pageState(a)).toBe('device');
  view[0] = 999;
  const err = (await space.dispatch(affine, aff).catch((e: unknown) => e)) as HostBypassError;
  expect(err).toBeInstanceOf(HostBypassError);
  expect(err.conflicting).toEqual([{ addr: a, byteLength: 4 * KiB }]);
  expect(err.message).toMatch(/device held the newer data/);
  // Reported once: the next dispatch runs, on the device's data.
  await space.dispatch(affine, aff);
  expect(u32(await space.read(a, 4 * KiB))[0]).toBe(211);
});

testWithDevice('without strict mode the same bypass goes unseen (the silent cliff strict mode makes loud)', async (ctx) => {
  const space = await strictSpace(ctx, 64 * KiB, false);
  const src = space.alloc(4 * KiB, { align: 4 * KiB });
  const dst = space.alloc(4 * KiB, { align: 4 * KiB });
  const view = await keepView(space, src, 4 * KiB);
  view.fill(1);
  const copy = { workgroups: 16, read: [{ addr: src, byteLength: 4 * KiB }], write: [{ addr: dst, byteLength: 4 * KiB }], args: [src, dst, 1024] };
  await space.dispatch(copyKernel, copy);
  view[0] = 42;
  await space.dispatch(copyKernel, copy);
  expect(u32(await space.read(dst, 4 * KiB))[0]).toBe(1); // the device used its old copy
});

testWithDevice('strict: the runtime\'s own writes never trip it — evictions, write-backs, pinned write-through, rollbacks, frees', async (ctx) => {
  const space = await strictSpace(ctx, 32 * KiB); // 8 frames for 64 pages of data
  const n = 16384;
  const a = space.alloc(n * 4, { align: 4 * KiB });
  const b = space.alloc(4 * KiB, { align: 4 * KiB });
  await space.write(a, new Uint32Array(n).map((_, i) => i));
  const ref = new Uint32Array(n).map((_, i) => i);
  for (let round = 0; round < 3; round++) {
    await space.dispatch(inPlace, { workgroups: n / 64, args: [a, n], demand: true }); // evicts dirty pages as it goes
    for (let i = 0; i < n; i++) ref[i] = (Math.imul(ref[i]!, 3) + i) >>> 0;
    await space.dispatch(affine, { workgroups: 16, write: [{ addr: a, byteLength: 4 * KiB }], args: [a, 1024, 1, 5] });
    for (let i = 0; i < 1024; i++) ref[i] = (ref[i]! + 5) >>> 0;
    expect(space.pageState(a)).toBe('device');
    expect(u32(await space.read(a, 4 * KiB))[0]).toBe(ref[0]); // write-back of a device-dirty page
    expect(space.pageState(a)).toBe('shared');
    await space.pin(b, 4 * KiB);
    await space.write(b + 8, new Uint32Array([round])); // written through to the pinned frame
    await space.withView(a + 8 * KiB, 8, 'write', (v) => v.fill(0));
    ref[2048] = 0;
    ref[2049] = 0;
    space.unpin(b, 4 * KiB);
  }
  const tmp = space.alloc(8 * KiB, { align: 4 * KiB });
  await space.dispatch(affine, { workgroups: 32, write: [{ addr: tmp, byteLength: 8 * KiB }], args: [tmp, 2048, 1, 1] });
  space.free(tmp);
  await space.dispatch(inPlace, { workgroups: n / 64, args: [a, n], demand: true });
  for (let i = 0; i < n; i++) ref[i] = (Math.imul(ref[i]!, 3) + i) >>> 0;
  expect(u32(await space.read(a, n * 4))).toEqual(ref);
  space.checkInvariants();
});

testWithDevice('expectNoFaults: a dispatch that had to bring pages in is reported — an error in strict spaces, an event otherwise', async (ctx) => {
  const space = await strictSpace(ctx);
  const a = space.alloc(8 * KiB, { align: 4 * KiB });
  await space.write(a, new Uint32Array(2048).fill(1));
  const aff = { workgroups: 32, write: [{ addr: a, byteLength: 8 * KiB }], args: [a, 2048, 1, 1], expectNoFaults: true };
  const err = (await space.dispatch(affine, aff).catch((e: unknown) => e)) as UnexpectedFaultError;
  expect(err).toBeInstanceOf(UnexpectedFaultError);
  expect(err.code).toBe('UNEXPECTED_FAULT');
  expect(err.ranges).toEqual([{ addr: a, byteLength: 8 * KiB }]);
  expect(err.bytes).toBe(8 * KiB);
  expect(err.message).toMatch(/results are valid/);
  expect(u32(await space.read(a, 8 * KiB))[0]).toBe(2); // it did run
  // Resident now (the read made them shared): no faults, no error.
  await space.dispatch(affine, aff);
  // Demand mode: the same contract.
  const b = space.alloc(8 * KiB, { align: 4 * KiB });
  const demandErr = await space.dispatch(inPlace, { workgroups: 32, args: [b, 2048], demand: true, expectNoFaults: true }).catch((e: unknown) => e);
  expect(demandErr).toBeInstanceOf(UnexpectedFaultError);
  expect((demandErr as UnexpectedFaultError).ranges).toEqual([{ addr: b, byteLength: 8 * KiB }]);
  await space.pin(b, 8 * KiB);
  await space.dispatch(inPlace, { workgroups: 32, args: [b, 2048], demand: true, expectNoFaults: true });
  space.unpin(b, 8 * KiB);

  // Not strict: the dispatch succeeds and an event names the pages.
  const loose = await strictSpace(ctx, 64 * KiB, false);
  const events: HmmEvent[] = [];
  loose.pool.on((e) => events.push(e));
  await loose.dispatch(affine, { ...aff, write: [{ addr: 64 * KiB, byteLength: 4 * KiB }], args: [64 * KiB, 1024, 1, 1] });
  const ev = events.find((e) => e.type === 'unexpected-fault');
  expect(ev).toMatchObject({ kernel: 'affine', pages: 1 });
  expect(ev?.type === 'unexpected-fault' && [...ev.pageList]).toEqual([16]);

  await expect(space.dispatch(affine, { ...aff, expectNoFaults: 1 as never })).rejects.toThrow(InvalidArgumentError);
  expect(() => createSpace(space.pool, { size: 64 * KiB, strict: 'yes' as never })).toThrow(/strict must be true or false/);
});
