// Device loss injected at precise points (issue 6 item 3): during an upload
// migration, during an eviction write-back and while one is in flight, during
// a demand-paged dispatch, during a declared dispatch, between operations.
// After each: the operation rejects with DeviceLostError whose lostRanges are
// exactly the pages the oracle (what the test dispatched, and the pool's
// to-host events) says were device-only; every other byte reads back; nothing
// hangs; pool.recover() on a new device reports the same ranges, keeps every
// host-valid byte, gives lost pages their last host bytes, and dispatches
// work again.

import { expect } from 'vitest';
import { testWithDevice, KiB, type DeviceContext } from '../helpers/gpu.ts';
import { affine, copyKernel, coreOf, inPlace, makeSpace, poolImpl, u32 } from '../helpers/space.ts';
import { DirtyOracle, failAllocations, spareDevice, within } from '../helpers/inject.ts';
import {
  createKernel, createSpace, DestroyedError, DeviceLostError, GpuOutOfMemoryError, InvalidArgumentError,
  type AddressSpace, type LostRange, type Pool, type PoolOptions,
} from '../../src/index.ts';

const P = 4 * KiB;
const W = P / 4;
const PAGES = 32;
/** Every await of the runtime in these tests must settle within this. */
const SETTLE_MS = 20_000;

interface World {
  readonly ctx: DeviceContext;
  readonly pool: Pool;
  readonly space: AddressSpace;
  readonly oracle: DirtyOracle;
  /** What every word of the space holds after the operations that resolved. */
  readonly ref: Uint32Array;
  /** The host copy of each page as the test knows it (for lost pages after recover: their last host bytes). */
  readonly hostCopy: Uint32Array;
}

/** Pages 0–15 written from the host with word i = i + 1; the pool holds 8 pages. */
async function world(ctx: DeviceContext, pool: PoolOptions = { capacity: 8 * P, pageSize: P }): Promise<World> {
  const { pool: p, space } = await makeSpace(ctx, pool, PAGES * P);
  const oracle = new DirtyOracle(p, coreOf(space).id);
  const ref = new Uint32Array(PAGES * W);
  for (let i = 0; i < 16 * W; i++) ref[i] = i + 1;
  await space.write(0, ref.subarray(0, 16 * W));
  return { ctx, pool: p, space, oracle, ref, hostCopy: ref.slice() };
}

/** a = a * mul + add over pages [first, first + n): resolve, then tell the oracle and the reference. */
async function affineOn(w: World, first: number, n: number, mul: number, add: number): Promise<void> {
  await within(w.space.dispatch(affine, { workgroups: n * 16, write: [{ addr: first * P, byteLength: n * P }], args: [first * P, n * W, mul, add] }), SETTLE_MS, 'dispatch');
  for (let i = first * W; i < (first + n) * W; i++) w.ref[i] = (w.ref[i]! * mul + add) >>> 0;
  w.oracle.dispatched(first * P, n * P);
}

/** Expect `p` to reject with DeviceLostError listing exactly `ranges`. */
async function expectLost(p: Promise<unknown>, ranges: readonly LostRange[], what: string): Promise<DeviceLostError> {
  const e = await within(p.then(() => undefined, (x: unknown) => x), SETTLE_MS, what);
  expect(e, `${what} must fail with DeviceLostError`).toBeInstanceOf(DeviceLostError);
  expect((e as DeviceLostError).lostRanges, `${what}: lostRanges`).toEqual(ranges);
  return e as DeviceLostError;
}

/** Every page outside `lost` reads back as the reference says (while lost: through the host-valid read path). */
async function expectHostValid(w: World, lost: readonly LostRange[]): Promise<void> {
  const isLost = (p: number) => lost.some((r) => p * P >= r.addr && p * P < r.addr + r.byteLength);
  for (let p = 0; p < PAGES; p++) {
    if (isLost(p)) continue;
    const got = u32(await within(w.space.read(p * P, P), SETTLE_MS, `read of page ${p}`));
    expect(got, `page ${p}`).toEqual(w.ref.subarray(p * W, (p + 1) * W));
  }
}

/**
 * The device is lost: recover on a new one, then check the report, that lost
 * pages hold their last host bytes and every other page the reference, that
 * nothing is resident, and that a dispatch works again.
 */
async function recoverAndGoOn(w: World, lost: readonly LostRange[]): Promise<void> {
  const spare = await spareDevice(w.ctx);
  const report = await within(w.pool.recover(spare.device), SETTLE_MS, 'recover');
  expect(report.spaces).toEqual([{ label: w.space.label, spaceId: coreOf(w.space).id, lostRanges: lost }]);
  expect(report.capacity).toBe(w.pool.capacity);
  expect(w.pool.device).toBe(spare.device);
  w.space.checkInvariants();
  expect(w.pool.stats().framesUsed).toBe(report.pagesRepinned);
  // Lost pages now hold their last host copy; the test knows it.
  for (const r of lost) for (let i = r.addr / 4; i < (r.addr + r.byteLength) / 4; i++) w.ref[i] = w.hostCopy[i]!;
  expect(u32(await w.space.read(0, PAGES * P))).toEqual(w.ref);
  w.oracle.dirty.clear();
  await affineOn(w, 0, 8, 3, 1);
  await affineOn(w, 8, 4, 1, 2); // evicts the first four written: write-back on the new device
  expect(u32(await w.space.read(0, PAGES * P))).toEqual(w.ref);
  w.space.checkInvariants();
}

/** Wrap one method of the pool's transfer so that the device is destroyed right after its `n`-th call. */
function loseAfterTransfer(w: World, method: 'writeBuffer' | 'staging' | 'readback' | 'readbackDetached', n = 1): { calls(): number } {
  const t = poolImpl(w.pool).transfer as unknown as Record<string, (...a: unknown[]) => unknown>;
  const original = t[method]!.bind(t);
  let calls = 0;
  t[method] = (...a: unknown[]) => {
    const r = original(...a);
    if (++calls === n) w.ctx.device.destroy();
    return r;
  };
  return { calls: () => calls };
}

/** Destroy the device right after the `n`-th queue.submit from now on. */
function loseAfterSubmit(w: World, n: number): { calls(): number } {
  const q = w.ctx.device.queue;
  const submit = q.submit.bind(q);
  let calls = 0;
  Object.assign(q, {
    submit: (cbs: Iterable<GPUCommandBuffer>) => {
      submit(cbs);
      if (++calls === n) w.ctx.device.destroy();
    },
  });
  return { calls: () => calls };
}

testWithDevice('loss during an upload migration: the dispatch fails, only earlier device-dirty pages are lost', async (ctx) => {
  const w = await world(ctx);
  await affineOn(w, 0, 2, 2, 1); // pages 0–1: device-only
  await w.space.dispatch(copyKernel, { workgroups: 1, read: [{ addr: 2 * P, byteLength: 2 * P }], args: [0, 0, 0] }); // 2–3 shared
  const probe = loseAfterTransfer(w, 'writeBuffer');
  const lost = [{ addr: 0, byteLength: 2 * P }];
  expect(w.oracle.ranges()).toEqual(lost);
  await expectLost(w.space.dispatch(affine, { workgroups: 32, write: [{ addr: 4 * P, byteLength: 2 * P }], args: [4 * P, 2 * W, 5, 5] }), lost, 'the dispatch');
  expect(probe.calls()).toBe(1);
  w.space.checkInvariants();
  await expectHostValid(w, lost);
  await expectLost(w.space.read(0, 4), lost, 'a read of a lost page');
  await expectLost(w.space.write(0, new Uint8Array(4)), lost, 'a write');
  await expectLost(w.space.pin(8 * P, P), lost, 'a pin');
  expect(() => w.space.alloc(16)).toThrow(DeviceLostError);
  await recoverAndGoOn(w, lost);
});

testWithDevice('loss during an eviction write-back: the victims never land and are lost with the rest', async (ctx) => {
  const w = await world(ctx);
  await affineOn(w, 0, 8, 2, 0); // the whole pool device-only
  const probe = loseAfterTransfer(w, 'readbackDetached');
  const lost = [{ addr: 0, byteLength: 8 * P }];
  expect(w.oracle.ranges()).toEqual(lost);
  await expectLost(w.space.dispatch(affine, { workgroups: 32, write: [{ addr: 8 * P, byteLength: 2 * P }], args: [8 * P, 2 * W, 7, 7] }), lost, 'the dispatch');
  expect(probe.calls()).toBe(1);
  expect(w.space.residency(0, 8 * P).device).toBe(8); // two of them in flight, still device-only
  w.space.checkInvariants();
  await expectHostValid(w, lost);
  await recoverAndGoOn(w, lost);
});

testWithDevice('loss while a write-back is in flight, at the dispatch that evicted it: its pages are lost, the dispatch’s own are not', async (ctx) => {
  const w = await world(ctx);
  await affineOn(w, 0, 8, 2, 0);
  const spy = loseAfterTransfer(w, 'readbackDetached', 0); // count only
  // Pages 8–9 are host pages: uploaded by writeBuffer (no submit); the write-back is submit 1, the pass submit 2.
  const probe = loseAfterSubmit(w, 2);
  const lost = [{ addr: 0, byteLength: 8 * P }];
  await expectLost(w.space.dispatch(affine, { workgroups: 32, write: [{ addr: 8 * P, byteLength: 2 * P }], args: [8 * P, 2 * W, 7, 7] }), lost, 'the dispatch');
  expect([spy.calls(), probe.calls()]).toEqual([1, 2]);
  await expectHostValid(w, lost); // pages 8–9 hold their bytes from before the dispatch
  await recoverAndGoOn(w, lost);
});

testWithDevice('loss during a declared dispatch, after its pass was submitted: its results were never delivered, its pages keep their old bytes', async (ctx) => {
  const w = await world(ctx);
  await affineOn(w, 0, 2, 2, 1);
  await w.space.dispatch(copyKernel, { workgroups: 1, read: [{ addr: 2 * P, byteLength: 2 * P }], args: [0, 0, 0] });
  const probe = loseAfterSubmit(w, 1); // pages 2–3 are resident: the pass is the first submit
  const lost = [{ addr: 0, byteLength: 2 * P }];
  await expectLost(w.space.dispatch(affine, { workgroups: 32, write: [{ addr: 2 * P, byteLength: 2 * P }], args: [2 * P, 2 * W, 9, 9] }), lost, 'the dispatch');
  expect(probe.calls()).toBe(1);
  expect(w.space.pageState(2 * P)).toBe('shared');
  await expectHostValid(w, lost);
  await recoverAndGoOn(w, lost);
});

testWithDevice('loss between the passes of a demand-paged transaction: the dispatch fails and changes nothing', async (ctx) => {
  const w = await world(ctx);
  await affineOn(w, 0, 2, 2, 1);
  const passes: string[] = [];
  const off = w.pool.on((e) => {
    if (e.type !== 'pass') return;
    passes.push(e.mode);
    if (passes.length === 1) ctx.device.destroy();
  });
  const lost = [{ addr: 0, byteLength: 2 * P }];
  await expectLost(w.space.dispatch(inPlace, { workgroups: 32, demand: true, args: [4 * P, 2 * W] }), lost, 'the demand dispatch');
  off();
  expect(passes).toEqual(['probe']);
  await expectHostValid(w, lost);
  await recoverAndGoOn(w, lost);
});

testWithDevice('loss at each submit of a demand-paged transaction and of a replay: never a lost page of the failing dispatch', async (ctx) => {
  // Count the submits of each dispatch on a throwaway pool first, then lose the device at each one in turn.
  const replayKernel = createKernel({ label: 'double', idempotent: true, code: copyKernel.code.replace('vm_load_u32(vm_arg_u32(0u) + i * 4u)', 'vm_load_u32(vm_arg_u32(0u) + i * 4u) * 2u') });
  const cases = [
    { name: 'transaction', run: (s: AddressSpace) => s.dispatch(inPlace, { workgroups: 32, demand: true, args: [4 * P, 2 * W] }) },
    { name: 'replay', run: (s: AddressSpace) => s.dispatch(replayKernel, { workgroups: 32, demand: true, args: [4 * P, 12 * P, 2 * W] }) },
  ];
  for (const c of cases) {
    const dry = await world(ctx);
    await affineOn(dry, 0, 2, 2, 1);
    const count = loseAfterSubmit(dry, Number.POSITIVE_INFINITY);
    await c.run(dry.space);
    const submits = count.calls();
    expect(submits, `${c.name}: submits`).toBeGreaterThan(1);
    for (let k = 1; k <= submits; k++) {
      const node = await spareDevice(ctx);
      const sub: DeviceContext = { ...ctx, device: node.device, node };
      const w = await world(sub);
      await affineOn(w, 0, 2, 2, 1);
      loseAfterSubmit(w, k);
      const before = w.ref.slice();
      const e = await within(c.run(w.space).then(() => undefined, (x: unknown) => x), SETTLE_MS, `${c.name} at submit ${k}`);
      expect(e, `${c.name} at submit ${k}`).toBeInstanceOf(DeviceLostError);
      expect((e as DeviceLostError).lostRanges, `${c.name} at submit ${k}`).toEqual(w.oracle.ranges());
      expect(w.oracle.ranges()).toEqual([{ addr: 0, byteLength: 2 * P }]);
      w.space.checkInvariants();
      // The transaction left its pages as they were; the replay's outputs are each old or new (it may have written part).
      for (let p = 2; p < PAGES; p++) {
        const got = u32(await w.space.read(p * P, P));
        for (let i = 0; i < W; i++) {
          const j = p * W + i;
          const fresh = c.name === 'replay' && p >= 12 && p < 14 ? (before[j - 8 * W]! * 2) >>> 0 : before[j]!;
          if (got[i] !== before[j] && got[i] !== fresh) expect(got[i], `${c.name} at submit ${k}: word ${j}`).toBe(before[j]);
        }
      }
    }
  }
}, 300_000);

testWithDevice('a dispatch that completed before the loss resolves, and its pages are then reported lost', async (ctx) => {
  const w = await world(ctx);
  let fired = false;
  const off = w.pool.on((e) => {
    if (e.type === 'pass' && e.mode === 'commit' && !fired) {
      fired = true;
      ctx.device.destroy();
    }
  });
  await within(w.space.dispatch(inPlace, { workgroups: 32, demand: true, args: [4 * P, 2 * W] }), SETTLE_MS, 'the demand dispatch');
  off();
  expect(fired).toBe(true);
  for (let i = 0; i < 2 * W; i++) w.ref[4 * W + i] = (w.ref[4 * W + i]! * 3 + i) >>> 0;
  w.oracle.dispatched(4 * P, 2 * P);
  const lost = [{ addr: 4 * P, byteLength: 2 * P }];
  expect(w.oracle.ranges()).toEqual(lost);
  await expectLost(w.space.read(4 * P, 4), lost, 'a read of its output');
  await expectHostValid(w, lost);
  await recoverAndGoOn(w, lost);
});

testWithDevice('loss between operations: operations fail fast, host-valid bytes read back, then recover and go on', async (ctx) => {
  const w = await world(ctx);
  await affineOn(w, 2, 2, 2, 0);
  await affineOn(w, 6, 1, 2, 0);
  ctx.device.destroy();
  const lost = [{ addr: 2 * P, byteLength: 2 * P }, { addr: 6 * P, byteLength: P }];
  expect(w.oracle.ranges()).toEqual(lost);
  await expectLost(w.space.dispatch(affine, { workgroups: 1, write: [{ addr: 0, byteLength: 4 }], args: [0, 1, 1, 1] }), lost, 'a dispatch');
  await expectLost(w.space.withView(0, 4, 'read', () => 0), lost, 'a view');
  await expectLost(w.space.compile(inPlace), lost, 'a compile');
  await expectHostValid(w, lost);
  await recoverAndGoOn(w, lost);
});

testWithDevice('two spaces on one lost pool: each error lists its own space’s ranges; the report lists both', async (ctx) => {
  const w = await world(ctx);
  const other = ctx.track(createSpace(w.pool, { size: 8 * P, label: 'other' }));
  await other.write(0, new Uint32Array(2 * W).fill(5));
  await other.dispatch(affine, { workgroups: 16, write: [{ addr: P, byteLength: P }], args: [P, W, 2, 0] });
  await affineOn(w, 3, 1, 2, 0);
  ctx.device.destroy();
  await expectLost(w.space.read(3 * P, 4), [{ addr: 3 * P, byteLength: P }], 'space 1');
  await expectLost(other.read(P, 4), [{ addr: P, byteLength: P }], 'space 2');
  expect(u32(await other.read(0, P)).every((x) => x === 5)).toBe(true);
  const spare = await spareDevice(ctx);
  const report = await w.pool.recover(spare.device);
  expect(report.spaces).toEqual([
    { label: w.space.label, spaceId: coreOf(w.space).id, lostRanges: [{ addr: 3 * P, byteLength: P }] },
    { label: 'other', spaceId: coreOf(other).id, lostRanges: [{ addr: P, byteLength: P }] },
  ]);
  expect(u32(await other.read(P, P)).every((x) => x === 5)).toBe(true); // its last host bytes
  await other.dispatch(affine, { workgroups: 16, write: [{ addr: P, byteLength: P }], args: [P, W, 2, 0] });
  expect(u32(await other.read(P, P)).every((x) => x === 10)).toBe(true);
  other.checkInvariants();
});

testWithDevice('pinned pages stay pinned across recover: uploaded again, resident, never faulted', async (ctx) => {
  const w = await world(ctx);
  await w.space.pin(10 * P, 2 * P);
  await affineOn(w, 10, 1, 2, 0); // a pinned page made device-only: it is lost, like any other
  ctx.device.destroy();
  const lost = [{ addr: 10 * P, byteLength: P }];
  await expectLost(w.space.read(10 * P, 4), lost, 'a read');
  const spare = await spareDevice(ctx);
  const report = await w.pool.recover(spare.device);
  expect(report.pagesRepinned).toBe(2);
  expect(w.space.residency(10 * P, 2 * P)).toMatchObject({ pinned: 2, shared: 2, residentBytes: 2 * P });
  w.space.checkInvariants();
  for (let i = 10 * W; i < 11 * W; i++) w.ref[i] = w.hostCopy[i]!;
  const r = await w.space.dispatch(affine, { workgroups: 32, write: [{ addr: 10 * P, byteLength: 2 * P }], args: [10 * P, 2 * W, 1, 1], expectNoFaults: true });
  expect(r.pagesUploaded + r.pagesCleared).toBe(0);
  for (let i = 10 * W; i < 12 * W; i++) w.ref[i] = w.ref[i]! + 1;
  expect(u32(await w.space.read(0, PAGES * P))).toEqual(w.ref);
  w.space.unpin(10 * P, 2 * P);
  expect(w.pool.stats().pinnedBytes).toBe(0);
});

testWithDevice('recover: refused on a healthy pool, with the lost device, or on a destroyed pool; a device that cannot hold the pins leaves the pool lost', async (ctx) => {
  const w = await world(ctx);
  // A second pool on the same device: two windows of 4 pages, all of it pinnable.
  const wide = await world(ctx, { capacity: 8 * P, pageSize: P, maxWindowSize: 4 * P, pinLimit: 8 * P });
  const spare = await spareDevice(ctx);
  await expect(w.pool.recover(spare.device)).rejects.toThrow(/is not lost/);
  await expect(w.pool.recover({} as GPUDevice)).rejects.toThrow(/pass a new GPUDevice/);
  await w.space.pin(0, 4 * P);
  await wide.space.pin(0, 5 * P);
  ctx.device.destroy();
  await expect(w.pool.recover(ctx.device)).rejects.toThrow(/pass a new device/);
  // This device gives a pool only its first window: 4 pages, one fewer than `wide` has pinned.
  const small = await spareDevice(ctx);
  failAllocations(small.device, (d) => /:window\[[1-9]/.test(d.label ?? ''));
  const e = await wide.pool.recover(small.device).catch((x: unknown) => x);
  expect(e).toBeInstanceOf(GpuOutOfMemoryError);
  expect((e as Error).message).toMatch(new RegExp(`its ${5 * P} pinned bytes must be resident; unpin some`));
  await expectLost(wide.space.write(0, new Uint8Array(4)), [], 'a write after the failed recover'); // still lost; nothing was device-only
  const third = await spareDevice(ctx);
  const report = await wide.pool.recover(third.device);
  expect([report.pagesRepinned, report.capacity]).toEqual([5, 8 * P]);
  wide.space.checkInvariants();
  expect(u32(await wide.space.read(0, PAGES * P))).toEqual(wide.ref);
  expect((await w.pool.recover(spare.device)).pagesRepinned).toBe(4);
  w.space.checkInvariants();
  w.pool.destroy();
  await expect(w.pool.recover(small.device)).rejects.toThrow(DestroyedError);
});
