// Durable spaces (createSpace({ durable: true })): every dispatch writes what
// it made device-dirty home before it settles, so a device loss loses
// nothing. What it costs is counted here. Loss at every GPU call of a longer
// sequence is in loss-random.dawn.test.ts.

import { expect } from 'vitest';
import { testWithDevice, KiB } from '../helpers/gpu.ts';
import { affine, coreOf, inPlace, u32 } from '../helpers/space.ts';
import { DirtyOracle, spareDevice } from '../helpers/inject.ts';
import { AccessViolationError, createKernel, createPool, createSpace, DeviceLostError } from '../../src/index.ts';

/** Stores 77 at args[0] (declared) and at args[1] (not): the second is a violation, the first lands. */
const twoStores = createKernel({
  label: 'two-stores',
  workgroupSize: 1,
  code: 'fn kernel(inv: VmInvocation) { vm_store_u32(vm_arg_u32(0u), 77u); vm_store_u32(vm_arg_u32(1u), 77u); }',
});

const P = 4 * KiB;
const W = P / 4;

testWithDevice('the cost of durability, counted: 8 dispatches over 16 pages move 8 × 64 KiB home instead of 64 KiB at the final read', async (ctx) => {
  const moved: Record<string, { toHost: number; byCause: Map<string, number>; data: Uint8Array }> = {};
  for (const durable of [false, true]) {
    const pool = ctx.track(await createPool(ctx.device, { capacity: 16 * P, pageSize: P }));
    const space = ctx.track(createSpace(pool, { size: 16 * P, strict: true, durable }));
    const oracle = new DirtyOracle(pool, coreOf(space).id);
    await space.write(0, Uint32Array.from({ length: 16 * W }, (_, i) => i));
    for (let k = 0; k < 8; k++) {
      await space.dispatch(affine, { workgroups: 16 * 16, write: [{ addr: 0, byteLength: 16 * P }], args: [0, 16 * W, 1, k] });
      expect(space.residency().device, `durable ${durable}: device-only pages after dispatch ${k}`).toBe(durable ? 0 : 16);
    }
    const data = await space.read(0, 16 * P);
    moved[String(durable)] = { toHost: pool.stats().bytesToHost, byCause: oracle.toHost, data };
    space.checkInvariants();
  }
  expect(moved['true']!.data).toEqual(moved['false']!.data);
  expect(u32(moved['true']!.data)[5]).toBe(5 + 28);
  // Measured by the pool's counters and, by cause, by its events.
  expect(moved['false']!.toHost).toBe(16 * P);
  expect(moved['true']!.toHost).toBe(8 * 16 * P);
  expect(Object.fromEntries(moved['false']!.byCause)).toEqual({ explicit: 16 * P });
  expect(Object.fromEntries(moved['true']!.byCause)).toEqual({ durable: 8 * 16 * P });
});

testWithDevice('durable: a demand transaction leaves nothing device-only; a dispatch that violates still writes home what it stored', async (ctx) => {
  const pool = ctx.track(await createPool(ctx.device, { capacity: 8 * P, pageSize: P }));
  const space = ctx.track(createSpace(pool, { size: 32 * P, strict: true, durable: true }));
  await space.write(0, Uint32Array.from({ length: 4 * W }, (_, i) => i));
  await space.dispatch(inPlace, { workgroups: 32, demand: true, args: [0, 2 * W] });
  expect(space.residency().device).toBe(0);
  const e = await space.dispatch(twoStores, { workgroups: 1, write: [{ addr: 3 * P, byteLength: P }], args: [3 * P, 31 * P] }).catch((x: unknown) => x);
  expect(e).toBeInstanceOf(AccessViolationError);
  expect(space.residency().device).toBe(0);
  expect(space.pageState(3 * P)).toBe('shared');
  await space.dispatch(affine, { workgroups: 16, write: [{ addr: 2 * P, byteLength: P }], args: [2 * P, W, 2, 0] });
  expect(space.residency().device).toBe(0);
  const out = u32(await space.read(0, 4 * P));
  for (let i = 0; i < 2 * W; i++) expect(out[i]).toBe(i * 3 + i);
  for (let i = 2 * W; i < 3 * W; i++) expect(out[i]).toBe(i * 2);
  expect(out[3 * W]).toBe(77);
  space.checkInvariants();
});

testWithDevice('durable: a loss during a dispatch or between dispatches loses nothing; recover and every byte is there', async (ctx) => {
  const pool = ctx.track(await createPool(ctx.device, { capacity: 8 * P, pageSize: P }));
  const space = ctx.track(createSpace(pool, { size: 32 * P, strict: true, durable: true }));
  const ref = Uint32Array.from({ length: 32 * W }, (_, i) => (i < 16 * W ? i + 1 : 0));
  await space.write(0, ref.subarray(0, 16 * W));
  await space.dispatch(affine, { workgroups: 8 * 16, write: [{ addr: 0, byteLength: 8 * P }], args: [0, 8 * W, 2, 0] });
  for (let i = 0; i < 8 * W; i++) ref[i] = ref[i]! * 2;
  // Lose the device right after the next dispatch's pass is submitted.
  const q = ctx.device.queue;
  const submit = q.submit.bind(q);
  let submits = 0;
  Object.assign(q, {
    submit: (cbs: Iterable<GPUCommandBuffer>) => {
      submit(cbs);
      if (++submits === 1) ctx.device.destroy();
    },
  });
  const e = await space.dispatch(affine, { workgroups: 16, write: [{ addr: 2 * P, byteLength: P }], args: [2 * P, W, 3, 3] }).catch((x: unknown) => x);
  expect(e).toBeInstanceOf(DeviceLostError);
  expect((e as DeviceLostError).lostRanges).toEqual([]);
  expect(u32(await space.read(0, 32 * P))).toEqual(ref);
  const spare = await spareDevice(ctx);
  const report = await pool.recover(spare.device);
  expect(report.spaces[0]!.lostRanges).toEqual([]);
  expect(u32(await space.read(0, 32 * P))).toEqual(ref);
  await space.dispatch(affine, { workgroups: 16, write: [{ addr: 2 * P, byteLength: P }], args: [2 * P, W, 3, 3] });
  for (let i = 2 * W; i < 3 * W; i++) ref[i] = ref[i]! * 3 + 3;
  spare.device.destroy(); // and between dispatches
  const again = await space.read(0, 32 * P).catch((x: unknown) => x);
  expect(again).toBeInstanceOf(Uint8Array);
  expect(u32(again as Uint8Array)).toEqual(ref);
  await expect(space.dispatch(affine, { workgroups: 1, write: [{ addr: 0, byteLength: 4 }], args: [0, 1, 1, 1] })).rejects.toMatchObject({ code: 'DEVICE_LOST', lostRanges: [] });
  space.checkInvariants();
});

testWithDevice('durable must be true or false', async (ctx) => {
  const pool = ctx.track(await createPool(ctx.device, { capacity: 8 * P, pageSize: P }));
  expect(() => createSpace(pool, { size: P, durable: 'yes' as never })).toThrow(/durable must be true or false/);
});
