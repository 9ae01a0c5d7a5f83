// Out of memory and validation errors, injected (issue 6 item 4). The device
// runs out of memory when the pool is created, or when the runtime needs a
// buffer while it runs (read-back ring, staging ring, eviction write-back
// buffers, replay records): the pool shrinks by a window and goes on, or the
// call fails with GpuOutOfMemoryError naming the bytes; a command WebGPU
// refuses fails the dispatch with GpuValidationError. After each, the page
// tables are consistent and every byte reads back.

import { expect } from 'vitest';
import { testWithDevice, KiB, type DeviceContext } from '../helpers/gpu.ts';
import { affine, poolImpl, u32 } from '../helpers/space.ts';
import { failAllocations } from '../helpers/inject.ts';
import {
  createKernel, createPool, createSpace, GpuOutOfMemoryError, GpuValidationError, WorkingSetTooLargeError,
  type AddressSpace, type Pool, type PoolOptions,
} from '../../src/index.ts';

const P = 4 * KiB;
const W = P / 4;
const PAGES = 32;

interface World {
  readonly pool: Pool;
  readonly space: AddressSpace;
  readonly ref: Uint32Array;
}

/** A space of 32 pages with pages 0–15 written from the host (word i = i + 1). */
async function world(ctx: DeviceContext, options: PoolOptions): Promise<World> {
  const pool = ctx.track(await createPool(ctx.device, options));
  const space = ctx.track(createSpace(pool, { size: PAGES * P, strict: true }));
  const ref = new Uint32Array(PAGES * W);
  for (let i = 0; i < 16 * W; i++) ref[i] = i + 1;
  await space.write(0, ref.subarray(0, 16 * W));
  return { pool, space, ref };
}

async function affineOn(w: World, first: number, n: number, mul: number, add: number): Promise<void> {
  await w.space.dispatch(affine, { workgroups: n * 16, write: [{ addr: first * P, byteLength: n * P }], args: [first * P, n * W, mul, add] });
  for (let i = first * W; i < (first + n) * W; i++) w.ref[i] = (w.ref[i]! * mul + add) >>> 0;
}

async function expectIntact(w: World): Promise<void> {
  w.space.checkInvariants();
  expect(u32(await w.space.read(0, PAGES * P))).toEqual(w.ref);
  w.space.checkInvariants();
}

/** Two windows of 4 pages; uploads by writeBuffer, so that no staging ring is made unless a test asks for one. */
const TWO_WINDOWS: PoolOptions = { capacity: 8 * P, pageSize: P, maxWindowSize: 4 * P, uploadPath: 'writeBuffer' };

testWithDevice('createPool when the device gives two windows of four: the pool works with what it got; the stats say so', async (ctx) => {
  const inj = failAllocations(ctx.device, (d) => /:window\[[23]\]/.test(d.label ?? ''));
  const w = await world(ctx, { capacity: 16 * P, pageSize: P, maxWindowSize: 4 * P });
  expect(inj.failed).toEqual(['hmm:window[2]']); // it stops at the first refusal
  expect(w.pool.capacity).toBe(8 * P);
  expect(w.pool.stats()).toMatchObject({ capacity: 8 * P, requestedCapacity: 16 * P, frameCount: 8, windowCount: 2, shrinks: 0 });
  expect(w.pool.pinLimit).toBe(8 * P); // half of 16 pages asked for, cut to what the pool holds
  await affineOn(w, 0, 8, 2, 1); // a working set that fits
  const e = await w.space.dispatch(affine, { workgroups: 9 * 16, write: [{ addr: 0, byteLength: 9 * P }], args: [0, 9 * W, 1, 1] }).catch((x: unknown) => x);
  expect(e).toBeInstanceOf(WorkingSetTooLargeError);
  expect(e).toMatchObject({ neededBytes: 9 * P, availableBytes: 8 * P, capacityBytes: 8 * P });
  expect((e as Error).message).toContain(`needs ${9 * P} bytes`);
  await expectIntact(w);
});

testWithDevice('createPool when not even the first window can be made: GpuOutOfMemoryError naming the bytes', async (ctx) => {
  failAllocations(ctx.device, (d) => (d.label ?? '').includes(':window['));
  const e = await createPool(ctx.device, { capacity: 8 * P, pageSize: P }).catch((x: unknown) => x);
  expect(e).toBeInstanceOf(GpuOutOfMemoryError);
  expect(e).toMatchObject({ code: 'GPU_OUT_OF_MEMORY', bytes: 8 * P });
  expect((e as Error).message).toMatch(new RegExp(`could not allocate ${8 * P} bytes for its first window.*use a smaller pool capacity`));
});

testWithDevice('out of memory for the read-back ring: the pool writes its last window’s dirty pages home, gives the window back, and the read completes', async (ctx) => {
  const w = await world(ctx, TWO_WINDOWS);
  await affineOn(w, 0, 8, 3, 0); // both windows full of device-only pages
  expect(w.space.residency().device).toBe(8);
  let first = true;
  const inj = failAllocations(ctx.device, (d) => {
    const hit = first && (d.label ?? '').includes(':readback[');
    if (hit) first = false;
    return hit;
  });
  expect(u32(await w.space.read(0, 8 * P))).toEqual(w.ref.subarray(0, 8 * W));
  expect(inj.failed).toEqual(['hmm:readback[0]']);
  // The second window's four dirty pages went home as evictions; the read brought the other four.
  expect(w.pool.stats()).toMatchObject({ shrinks: 1, capacity: 4 * P, requestedCapacity: 8 * P, frameCount: 4, framesUsed: 4, evictionWritebacks: 4, bytesToHost: 8 * P });
  expect(w.pool.capacity).toBe(4 * P);
  await expectIntact(w);
  // The pool goes on at its new size: four pages fit, five do not.
  await affineOn(w, 4, 4, 1, 7);
  const e = await w.space.dispatch(affine, { workgroups: 5 * 16, write: [{ addr: 0, byteLength: 5 * P }], args: [0, 5 * W, 1, 1] }).catch((x: unknown) => x);
  expect(e).toMatchObject({ code: 'WORKING_SET_TOO_LARGE', neededBytes: 5 * P, capacityBytes: 4 * P });
  await expectIntact(w);
});

testWithDevice('out of memory for the staging ring every time: the pool gives back its last window (clean pages dropped, not copied), then fails typed with nothing left to give; nothing is lost', async (ctx) => {
  const w = await world(ctx, { ...TWO_WINDOWS, uploadPath: 'staging' });
  // The staging ring exists now (the setup's dispatch made it); drop it to make it again under pressure.
  await affineOn(w, 0, 8, 1, 1);
  await w.space.read(0, 8 * P); // all shared now: clean
  const inj = failAllocations(ctx.device, (d) => (d.label ?? '').includes(':staging['));
  const pool = w.pool as unknown as { transfer: { destroy(): void } };
  pool.transfer.destroy();
  let seen = 0;
  const off = w.pool.on((e) => {
    if (e.type === 'migration' && e.direction === 'to-host') seen++;
  });
  const e = await w.space.dispatch(affine, { workgroups: 2 * 16, write: [{ addr: 8 * P, byteLength: 2 * P }], args: [8 * P, 2 * W, 5, 0] }).catch((x: unknown) => x);
  off();
  // Every staging buffer fails, shrink or not: once the last window is given back there is nothing more, and the dispatch fails typed.
  expect(e).toBeInstanceOf(GpuOutOfMemoryError);
  expect((e as Error).message).toMatch(/could not allocate \d+ bytes .*nothing left to give back/);
  expect(inj.failed.length).toBe(2);
  expect(seen).toBe(0); // the clean pages of the window given back were dropped, not copied
  expect(w.pool.stats()).toMatchObject({ shrinks: 1, capacity: 4 * P });
  await expectIntact(w);
});

testWithDevice('out of memory with one window and nothing idle: the read fails with GpuOutOfMemoryError and changes nothing; the next read works', async (ctx) => {
  const w = await world(ctx, { capacity: 8 * P, pageSize: P, uploadPath: 'writeBuffer' });
  await affineOn(w, 0, 4, 2, 2);
  let first = true;
  failAllocations(ctx.device, (d) => {
    const hit = first && (d.label ?? '').includes(':readback[');
    if (hit) first = false;
    return hit;
  });
  const before = w.space.residency();
  const e = await w.space.read(0, 4 * P).catch((x: unknown) => x);
  expect(e).toBeInstanceOf(GpuOutOfMemoryError);
  expect(e).toMatchObject({ bytes: 4 * 1024 * 1024, capacity: 8 * P });
  expect((e as Error).message).toMatch(/could not allocate 4194304 bytes \(the pool holds 32768 bytes of device memory\), with nothing left to give back; use a smaller pool capacity or smaller stagingSlotSize/);
  expect(w.space.residency()).toEqual(before);
  expect(w.pool.stats().shrinks).toBe(0);
  await expectIntact(w);
});

testWithDevice('out of memory for a replay record: the pool gives back a window and the demand dispatch completes', async (ctx) => {
  const w = await world(ctx, TWO_WINDOWS);
  const double = createKernel({
    label: 'double', idempotent: true, workgroupSize: 64,
    code: 'fn kernel(inv: VmInvocation) { let i = inv.global_id.x; if (i >= vm_arg_u32(2u)) { return; } vm_store_u32(vm_arg_u32(1u) + i * 4u, vm_load_u32(vm_arg_u32(0u) + i * 4u) * 2u); }',
  });
  const inj = failAllocations(ctx.device, (d) => (d.label ?? '').endsWith(':record') && inj.failed.length === 0);
  const r = await w.space.dispatch(double, { workgroups: 32, demand: true, args: [0, 20 * P, 2 * W] });
  expect(r.mode).toBe('replay');
  expect(inj.failed).toEqual(['space:record']);
  for (let i = 0; i < 2 * W; i++) w.ref[20 * W + i] = w.ref[i]! * 2;
  expect(w.pool.stats()).toMatchObject({ shrinks: 1, capacity: 4 * P });
  await expectIntact(w);
});

testWithDevice('out of memory for eviction write-back buffers: the pool gives back a window, but never one holding the victims', async (ctx) => {
  // CLOCK's hand at frame 0 picks victims in the first window (the second can go); at frame 4, in the second (it must stay).
  for (const hand of [0, 4]) {
    const w = await world(ctx, TWO_WINDOWS);
    await affineOn(w, 0, 8, 2, 0);
    poolImpl(w.pool).frames.hand = hand;
    const inj = failAllocations(ctx.device, (d) => (d.label ?? '').includes(':write-back[') && inj.failed.length === 0);
    const e = await w.space.dispatch(affine, { workgroups: 2 * 16, write: [{ addr: 8 * P, byteLength: 2 * P }], args: [8 * P, 2 * W, 3, 3] }).then(() => undefined, (x: unknown) => x);
    expect(inj.failed).toEqual(['hmm:write-back[0]']);
    if (hand === 0) {
      expect(e).toBeUndefined();
      for (let i = 8 * W; i < 10 * W; i++) w.ref[i] = w.ref[i]! * 3 + 3;
      expect(w.pool.stats()).toMatchObject({ shrinks: 1, capacity: 4 * P, evictionWritebacks: 2 + 4 });
    } else {
      expect(e).toBeInstanceOf(GpuOutOfMemoryError);
      expect((e as Error).message).toMatch(/no window could be given back now \(pinned or in use\)/);
      expect(w.pool.stats()).toMatchObject({ shrinks: 0, capacity: 8 * P, evictions: 0 });
      expect(w.space.residency().device).toBe(8);
    }
    await expectIntact(w);
  }
});

testWithDevice('a command WebGPU refuses fails the dispatch with GpuValidationError; nothing ran; the next dispatch works', async (ctx) => {
  const w = await world(ctx, { capacity: 8 * P, pageSize: P });
  await affineOn(w, 0, 2, 1, 1); // resident, so that the next dispatch's only command buffer is its pass
  const create = ctx.device.createCommandEncoder.bind(ctx.device);
  let broken = 0;
  Object.assign(ctx.device, {
    createCommandEncoder: (desc?: GPUCommandEncoderDescriptor) => {
      const enc = create(desc);
      if (desc?.label?.includes(':dispatch:') && broken++ === 0) {
        // An invalid copy (unaligned size): the encoder, and so its command buffer, is invalid.
        const b = w.pool as unknown as { windows: GPUBuffer[] };
        enc.copyBufferToBuffer(b.windows[0]!, 0, b.windows[0]!, 8, 3);
      }
      return enc;
    },
  });
  const e = await w.space.dispatch(affine, { workgroups: 2 * 16, write: [{ addr: 0, byteLength: 2 * P }], args: [0, 2 * W, 5, 0] }).catch((x: unknown) => x);
  expect(e).toBeInstanceOf(GpuValidationError);
  expect(e).toMatchObject({ code: 'GPU_VALIDATION' });
  expect((e as Error).message).toMatch(/dispatch "affine": WebGPU reported a validation error: .+report it with this message/s);
  expect(broken).toBe(1);
  await expectIntact(w); // the kernel did not run: the old bytes
  await affineOn(w, 0, 2, 5, 0);
  await expectIntact(w);
});
