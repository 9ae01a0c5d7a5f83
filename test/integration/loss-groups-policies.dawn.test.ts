// Device loss and pool.recover() with the other mechanisms in play: a memory
// group, advice and a thrashing hold in one space; a pin in a group that fails
// because the device is lost under it; explicit prefetches racing a loss at
// every GPU call they make. After each: typed errors (never a hang), lost
// ranges exactly as an oracle built from the events says, budgets that add up,
// the page tables' invariants, and every byte as the reference says.

import type { PolicyHub } from '../../src/policy/hub.ts';
import { expect } from 'vitest';
import { testWithDevice, KiB, type DeviceContext } from '../helpers/gpu.ts';
import { affine, coreOf, poolImpl, u32 } from '../helpers/space.ts';
import { DirtyOracle, onGpuCall, spareDevice, within } from '../helpers/inject.ts';
import {
  createGroup, createPool, createSpace, DeviceLostError, type AddressSpace, type LostRange, type Pool, type PoolBudget,
} from '../../src/index.ts';

const P = 4 * KiB;
const W = P / 4;
const SETTLE_MS = 20_000;

/** a = a·mul + add over pages [first, first + n), declared write. */
function affineOn(space: AddressSpace, first: number, n: number, mul: number, add: number, ref: Uint32Array): Promise<unknown> {
  for (let i = first * W; i < (first + n) * W; i++) ref[i] = (ref[i]! * mul + add) >>> 0;
  return space.dispatch(affine, { workgroups: n * 16, write: [{ addr: first * P, byteLength: n * P }], args: [first * P, n * W, mul, add] });
}

/** A budget adds up: the groups' used is the pool's, used + free the capacity, pins the same both ways, nobody over max. */
function expectConsistent(b: PoolBudget): void {
  expect(b.used + b.free).toBe(b.capacity);
  expect(b.perGroup.reduce((s, g) => s + g.used, 0)).toBe(b.used);
  expect(b.perGroup.reduce((s, g) => s + g.pinned, 0)).toBe(b.pinned);
  for (const g of b.perGroup) {
    expect(g.used, `group ${g.label}: used within max`).toBeLessThanOrEqual(g.max);
    expect(g.max, `group ${g.label}: max within the capacity`).toBeLessThanOrEqual(b.capacity);
    expect(g.free).toBe(g.max - g.used);
    expect(g.protected).toBeLessThanOrEqual(g.used);
  }
}

function isLost(p: number, lost: readonly LostRange[]): boolean {
  return lost.some((r) => p * P >= r.addr && p * P < r.addr + r.byteLength);
}

testWithDevice('loss and recover in a space with a memory group, advice and a thrashing hold: usage starts from 0, advice and holds carry over without frames, budgets add up', async (ctx) => {
  const pool = ctx.track(await createPool(ctx.device, { capacity: 16 * P, pageSize: P }));
  const g = createGroup(pool, { label: 'tenant', max: 8 * P, min: 2 * P });
  const s = ctx.track(createSpace(pool, {
    size: 32 * P, strict: true, group: g, label: 'tenant-space', densityPrefetch: false,
    thrashing: { lapseMs: 600_000, pinMs: 600_000 },
  }));
  const other = ctx.track(createSpace(pool, { size: 8 * P, strict: true, label: 'root-space' }));
  const oracle = new DirtyOracle(pool, coreOf(s).id);
  const ref = Uint32Array.from({ length: 32 * W }, (_, i) => (i < 16 * W ? i + 1 : 0));
  await s.write(0, ref.subarray(0, 16 * W));
  s.advise(0, 2 * P, { preferredLocation: 'device' });
  s.advise(2 * P, P, { readMostly: true });
  s.advise(12 * P, 2 * P, { preferredLocation: 'host' });
  // Page 4 ping-pongs: device (1), host write (2), device (3): held on the device from then on.
  await affineOn(s, 4, 1, 2, 1, ref);
  ref[4 * W] = 77;
  await s.write(4 * P, new Uint32Array(W).map((_, i) => ref[4 * W + i]!));
  await affineOn(s, 4, 1, 2, 1, ref);
  const hub = coreOf(s).policies as PolicyHub;
  expect(hub.held(4)).toBe(true);
  // A host write to the held, resident page is written through to its frame: it stays on the device.
  ref[4 * W + 1] = 5;
  await s.write(4 * P + 4, new Uint32Array([5]));
  expect(s.residency(4 * P, P)).toMatchObject({ shared: 1, residentBytes: P });
  // Pages 0–3 and 8–9 device-only (4 is Shared after the write-through); the root space holds 4 pages.
  await affineOn(s, 0, 4, 3, 0, ref);
  await affineOn(s, 8, 2, 1, 9, ref);
  oracle.dispatched(0, 4 * P);
  oracle.dispatched(8 * P, 2 * P);
  await other.write(0, new Uint32Array(4 * W).fill(3));
  await other.dispatch(affine, { workgroups: 4 * 16, write: [{ addr: 0, byteLength: 4 * P }], args: [0, 4 * W, 1, 1] });
  const before = pool.budget();
  expectConsistent(before);
  expect(g.usage()).toMatchObject({ used: 7 * P, protected: 2 * P });
  const hostCopy = new Uint32Array(coreOf(s).host.slice(0, coreOf(s).size).buffer);

  ctx.device.destroy();
  const lost = [{ addr: 0, byteLength: 4 * P }, { addr: 8 * P, byteLength: 2 * P }];
  expect(oracle.ranges()).toEqual(lost);
  const e = await within(s.prefetch(0, 4 * P, { to: 'host' }).catch((x: unknown) => x), SETTLE_MS, 'a prefetch after the loss');
  expect(e).toBeInstanceOf(DeviceLostError);
  expect((e as DeviceLostError).lostRanges).toEqual(lost);
  expect(() => pool.budget()).toThrow(DeviceLostError);
  // Host-side state is still there while lost.
  expect(s.advice(0).preferredLocation).toBe('device');
  expect(s.advice(12 * P).preferredLocation).toBe('host');

  const report = await within(pool.recover((await spareDevice(ctx)).device), SETTLE_MS, 'recover');
  expect(report.spaces.map((r) => r.lostRanges)).toEqual([lost, [{ addr: 0, byteLength: 4 * P }]]);
  expect(report.pagesRepinned).toBe(0);
  // Usage starts from 0 on the new device, for the pool and every group; the limits are as before.
  const after = pool.budget();
  expectConsistent(after);
  expect(after.used).toBe(0);
  expect(after.perGroup.map((u) => [u.label, u.used, u.max, u.min])).toEqual([['root', 0, 16 * P, 0], ['tenant', 0, 8 * P, 2 * P]]);
  expect(g.usage()).toMatchObject({ used: 0, protected: 0, evictedBySelf: before.perGroup[1]!.evictedBySelf });
  // Advice carried over; the hold is still on (it is about the page, not a frame) but keeps no frame.
  expect([s.advice(0), s.advice(2 * P), s.advice(12 * P)]).toEqual([
    { readMostly: false, preferredLocation: 'device', accessedBy: 'none' },
    { readMostly: true, preferredLocation: 'none', accessedBy: 'none' },
    { readMostly: false, preferredLocation: 'host', accessedBy: 'none' },
  ]);
  expect(hub.held(4)).toBe(true);
  expect(s.residency()).toMatchObject({ residentBytes: 0, device: 0, shared: 0 });
  s.checkInvariants();
  // A host write to the held page now lands on the host only: there is no frame to write through to.
  ref[4 * W + 2] = 6;
  await s.write(4 * P + 8, new Uint32Array([6]));
  expect(s.pageState(4 * P)).toBe('host');
  // Lost pages hold their last host bytes; everything else is as the reference says.
  for (const r of lost) for (let i = r.addr / 4; i < (r.addr + r.byteLength) / 4; i++) ref[i] = hostCopy[i]!;
  expect(u32(await s.read(0, 32 * P))).toEqual(ref);

  // And the group works again: 8 pages fill its max; 3 more evict its own pages — never those advised
  // 'device' (0, 1) or held (4) while others are there, and never the root space's.
  await affineOn(s, 0, 8, 1, 1, ref);
  expect(g.usage().used).toBe(8 * P);
  await affineOn(s, 16, 3, 1, 2, ref);
  expect(g.usage()).toMatchObject({ used: 8 * P, evictedBySelf: before.perGroup[1]!.evictedBySelf + 3 });
  expect([0, 1, 4].map((p) => s.residency(p * P, P).residentBytes)).toEqual([P, P, P]);
  await other.dispatch(affine, { workgroups: 2 * 16, write: [{ addr: 0, byteLength: 2 * P }], args: [0, 2 * W, 1, 1] });
  expectConsistent(pool.budget());
  expect(pool.budget().perGroup.map((u) => u.used)).toEqual([2 * P, 8 * P]);
  expect(u32(await s.read(0, 32 * P))).toEqual(ref);
  s.checkInvariants();
});

testWithDevice('a pin in a group that fails because the device is lost under it takes no pin: the group\'s pinned bytes stay right', async (ctx) => {
  const pool = ctx.track(await createPool(ctx.device, { capacity: 8 * P, pageSize: P, pinLimit: 8 * P, uploadPath: 'writeBuffer' }));
  const g = createGroup(pool, { label: 'pinner', pinLimit: 4 * P });
  const s = ctx.track(createSpace(pool, { size: 32 * P, strict: true, group: g }));
  const ref = Uint32Array.from({ length: 32 * W }, (_, i) => i);
  await s.write(0, ref);
  await affineOn(s, 0, 8, 2, 0, ref); // the pool is full of device-only pages
  await s.pin(0, P);
  // The next pin evicts two of them; lose the device as their write-back is issued.
  const t = poolImpl(pool).transfer as unknown as Record<string, (...a: unknown[]) => unknown>;
  const detached = t['readbackDetached']!.bind(t);
  t['readbackDetached'] = (...a: unknown[]) => {
    const r = detached(...a);
    ctx.device.destroy();
    return r;
  };
  const e = await within(s.pin(8 * P, 2 * P).catch((x: unknown) => x), SETTLE_MS, 'the pin');
  expect(e).toBeInstanceOf(DeviceLostError);
  const lost = (e as DeviceLostError).lostRanges;
  expect(lost.reduce((n, r) => n + r.byteLength, 0)).toBe(8 * P); // the 8 device-only pages, the 2 evicted ones too
  await within(pool.recover((await spareDevice(ctx)).device), SETTLE_MS, 'recover');
  const b = pool.budget();
  expectConsistent(b);
  expect([b.pinned, g.usage().pinned, g.usage().used]).toEqual([P, P, P]); // only page 0, repinned
  expect(s.residency(8 * P, 2 * P).pinned).toBe(0);
  // The group's pin limit is whole again: three more pages pin, exactly up to it.
  await s.pin(8 * P, 3 * P);
  expect(g.usage().pinned).toBe(4 * P);
  s.unpin(8 * P, 3 * P);
  s.unpin(0, P);
  expect([pool.budget().pinned, g.usage().pinned]).toEqual([0, 0]);
  s.checkInvariants();
});

testWithDevice('an unpin made while a pin is pending, then the pin failed by the loss: no pin count goes below zero', async (ctx) => {
  const pool = ctx.track(await createPool(ctx.device, { capacity: 8 * P, pageSize: P, pinLimit: 8 * P, uploadPath: 'writeBuffer' }));
  const g = createGroup(pool, { label: 'pinner', pinLimit: 4 * P });
  const s = ctx.track(createSpace(pool, { size: 32 * P, strict: true, group: g }));
  await s.write(0, new Uint32Array(8 * W).fill(1));
  await affineOn(s, 0, 8, 2, 0, new Uint32Array(32 * W));
  const impl = poolImpl(pool);
  const detached = impl.transfer.readbackDetached.bind(impl.transfer);
  impl.transfer.readbackDetached = (...a: Parameters<typeof detached>) => {
    const r = detached(...a);
    ctx.device.destroy();
    return r;
  };
  // The pin has taken its pins and waits for its evictions' write-backs: the program unpins (allowed while lost).
  const settle = impl.settleWriteBacks.bind(impl);
  let unpinned = false;
  impl.settleWriteBacks = (...a: Parameters<typeof settle>) => {
    if (!unpinned) {
      unpinned = true;
      s.unpin(8 * P, 2 * P);
    }
    return settle(...a);
  };
  await expect(within(s.pin(8 * P, 2 * P), SETTLE_MS, 'the pin')).rejects.toBeInstanceOf(DeviceLostError);
  expect(unpinned).toBe(true);
  expect(s.residency(8 * P, 2 * P).pinned).toBe(0);
  await within(pool.recover((await spareDevice(ctx)).device), SETTLE_MS, 'recover');
  expect([pool.budget().pinned, g.usage().pinned]).toEqual([0, 0]);
  s.checkInvariants();
});

/**
 * Two prefetches on a pool of 8 frames, uploads through the staging ring: to
 * the host of pages 4–5 (a read-back), then to the device of pages 8–15
 * (write-backs of 4 evicted device-only pages, staging uploads). With `loseAt`,
 * the device is destroyed right after that GPU call (counted from before the pool).
 */
async function prefetchRace(ctx: DeviceContext, loseAt: number): Promise<{ calls: number; before: number; outcome: string[] }> {
  const node = await spareDevice(ctx);
  const device = node.device;
  const calls = onGpuCall(device, loseAt, () => device.destroy());
  const pool: Pool = await createPool(device, { capacity: 8 * P, pageSize: P, uploadPath: 'staging' });
  const s = createSpace(pool, { size: 32 * P, strict: true });
  const oracle = new DirtyOracle(pool, coreOf(s).id);
  const ref = Uint32Array.from({ length: 32 * W }, (_, i) => (i < 16 * W ? i + 1 : 0));
  await s.write(0, ref.subarray(0, 16 * W));
  await affineOn(s, 0, 6, 2, 3, ref);
  oracle.dispatched(0, 6 * P);
  const hostCopy = new Uint32Array(coreOf(s).host.slice(0, coreOf(s).size).buffer);
  const before = calls.count;
  const outcome: string[] = [];
  let lostError: DeviceLostError | undefined;
  for (const op of [() => s.prefetch(4 * P, 2 * P, { to: 'host' }), () => s.prefetch(8 * P, 8 * P, { to: 'device' })]) {
    const r = await within(op().then(() => 'ok', (x: unknown) => x), SETTLE_MS, `prefetch with the device lost at call ${loseAt}`);
    if (r === 'ok') {
      outcome.push('ok');
      continue;
    }
    expect(r, `call ${loseAt}: a prefetch fails only with DeviceLostError`).toBeInstanceOf(DeviceLostError);
    lostError = r as DeviceLostError;
    outcome.push('lost');
  }
  if (loseAt <= calls.count) {
    // The loss happened: whatever failed listed exactly what the events say was device-only; recover and check.
    const e = lostError ?? (await within(s.read(0, 4).then(() => undefined, (x: unknown) => x), SETTLE_MS, 'a read after the loss'));
    if (e) {
      expect(e).toBeInstanceOf(DeviceLostError);
      expect((e as DeviceLostError).lostRanges, `call ${loseAt}: lost ranges`).toEqual(oracle.ranges());
    }
    const lost = oracle.ranges();
    const report = await within(pool.recover((await spareDevice(ctx)).device), SETTLE_MS, 'recover');
    expect(report.spaces[0]!.lostRanges).toEqual(lost);
    for (let p = 0; p < 32; p++) if (isLost(p, lost)) for (let i = p * W; i < (p + 1) * W; i++) ref[i] = hostCopy[i]!;
  }
  expect(u32(await within(s.read(0, 32 * P), SETTLE_MS, 'the final read')), `call ${loseAt}: every byte`).toEqual(ref);
  s.checkInvariants();
  oracle.stop();
  pool.destroy();
  return { calls: calls.count, before, outcome };
}

testWithDevice('explicit prefetches racing a device loss at each GPU call they make: DeviceLostError or done, never a hang; nothing else lost', async (ctx) => {
  const dry = await prefetchRace(ctx, Number.POSITIVE_INFINITY);
  expect(dry.outcome).toEqual(['ok', 'ok']);
  const total = dry.calls - dry.before;
  expect(total).toBeGreaterThan(4);
  const outcomes = new Map<string, number>();
  for (let k = dry.before + 1; k <= dry.calls; k++) {
    const r = await prefetchRace(ctx, k);
    expect(r.before, 'the setup makes the same GPU calls every time').toBe(dry.before);
    const key = r.outcome.join(',');
    outcomes.set(key, (outcomes.get(key) ?? 0) + 1);
  }
  // Both ways it can go happened: lost during the first prefetch (both fail), and during the second. (Every
  // GPU call of the second is followed by a wait the loss fails: its write-backs must land before it resolves.)
  expect([...outcomes.keys()].sort()).toEqual(['lost,lost', 'ok,lost']);
  expect([...outcomes.values()].reduce((a, b) => a + b, 0)).toBe(total);
}, 600_000);
