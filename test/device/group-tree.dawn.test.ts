// Memory groups as a tree on Dawn (issue 17), after the kernel's own
// semantics (mm/page_counter.c, kernel/cgroup/dmem.c, the pinning RFC): an
// overcommitted parent's protection split among siblings by protected usage
// and given back when one goes idle, a deep chain that carries its top claim
// down through a min of 0, pins refused at the right level with nothing
// changed, low honoured only while something else can be reclaimed, an
// ancestor's max reclaiming within its subtree, pressure naming the group
// whose limit was hit and a storm's end, and device loss: createGroup and
// advise while lost, recover() keeping the tree. Counts come from the budget
// tree and the event stream; bytes are checked where pages moved.

import { expect } from 'vitest';
import { testWithDevice, KiB, type DeviceContext } from '../helpers/gpu.ts';
import { affine, u32 } from '../helpers/space.ts';
import { spareDevice, within } from '../helpers/inject.ts';
import {
  createGroup, createPool, createSpace, DeviceLostError, GroupPinLimitError, PinLimitError, WorkingSetTooLargeError,
  type AddressSpace, type GroupBudget, type HmmEvent, type MemoryGroup, type Pool, type PoolOptions, type PressureEvent,
} from '../../src/index.ts';

const P = 4 * KiB;
const W = P / 4;

async function pool(ctx: DeviceContext, frames: number, extra: PoolOptions = {}): Promise<Pool> {
  return ctx.track(await createPool(ctx.device, { capacity: frames * P, pageSize: P, ...extra }));
}

function space(ctx: DeviceContext, p: Pool, pages: number, group: MemoryGroup | undefined, label: string): AddressSpace {
  return ctx.track(createSpace(p, { size: pages * P, strict: true, label, ...(group ? { group } : {}) }));
}

/** a[i] = a[i]·1 + 1 over `pages` pages from `first`, declared write. */
const run = (s: AddressSpace, first: number, pages: number) =>
  s.dispatch(affine, { workgroups: (pages * W) / 64, write: [{ addr: first * P, byteLength: pages * P }], args: [first * P, pages * W, 1, 1] });

/** The budget tree's nodes by path. */
function byPath(tree: GroupBudget): Map<string, GroupBudget> {
  const out = new Map<string, GroupBudget>();
  const walk = (n: GroupBudget) => {
    out.set(n.path, n);
    n.children.forEach(walk);
  };
  walk(tree);
  return out;
}

/** Pages evicted per space label, from eviction events. */
function evictions(p: Pool): { counts: Map<string, number>; stop(): void } {
  const counts = new Map<string, number>();
  const stop = p.on((e: HmmEvent) => {
    if (e.type === 'eviction') counts.set(e.space, (counts.get(e.space) ?? 0) + e.pages);
  });
  return { counts, stop };
}

async function failure(p: Promise<unknown>): Promise<Error> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(Error);
  return e as Error;
}

testWithDevice('siblings share an overcommitted parent\'s min by protected usage; one goes idle and the other keeps all it claims', async (ctx) => {
  const p = await pool(ctx, 20);
  const parent = createGroup(p, { label: 'P', min: 8 * P });
  const c1 = createGroup(parent, { label: 'C1', min: 6 * P });
  const c2 = createGroup(parent, { label: 'C2', min: 6 * P });
  expect([c1.path, c1.parent, parent.parent?.path]).toEqual(['P/C1', parent, 'root']);
  const s1 = space(ctx, p, 16, c1, 's1');
  const s2 = space(ctx, p, 16, c2, 's2');
  const z = space(ctx, p, 64, undefined, 'z');
  await run(s1, 0, 6);
  await run(s2, 0, 6);
  // 6 + 6 claimed under P's 8: 8·6/12 = 4 each (effective_protection, overcommitted).
  let t = byPath(p.budget().tree);
  expect([t.get('P')!.effectiveMin, t.get('P/C1')!.effectiveMin, t.get('P/C2')!.effectiveMin]).toEqual([8 * P, 4 * P, 4 * P]);
  // The root's streamer may take P down to its 8, each child to its 4, and no further.
  const ev = evictions(p);
  for (let first = 0; first < 48; first += 8) await run(z, first, 8);
  await run(z, 0, 12); // 20 − 8: exactly what it may have
  ev.stop();
  t = byPath(p.budget().tree);
  expect([t.get('P/C1')!.used, t.get('P/C2')!.used, t.get('P')!.used]).toEqual([4 * P, 4 * P, 8 * P]);
  expect([ev.counts.get('s1'), ev.counts.get('s2')]).toEqual([2, 2]);
  expect(t.get('P/C1')!.evictions).toEqual({ self: 0, ancestorMax: 0, others: 2 });
  const e = await failure(run(z, 0, 13));
  expect(e).toBeInstanceOf(WorkingSetTooLargeError);
  expect((e as WorkingSetTooLargeError).availableBytes).toBe(12 * P);
  expect(e.message).toMatch(/other memory groups hold 32768 bytes that it may not evict \(their effective min and pins: "P\/C[12]" 16384, "P\/C[12]" 16384\)/);
  // C1 goes idle (its pages go home); C2 refaults its 6: unclaimed by C1, P's 8 covers all of C2's claim.
  await s1.prefetch(0, 16 * P, { to: 'host' });
  await run(s2, 0, 6);
  t = byPath(p.budget().tree);
  expect([t.get('P/C1')!.used, t.get('P/C2')!.effectiveMin]).toEqual([0, 6 * P]);
  await run(z, 0, 14);
  expect(c2.usage().used).toBe(6 * P);
  expect((await failure(run(z, 0, 15))).message).toMatch(/"P\/C2" 24576/);
  expect(u32(await s2.read(0, 6 * P)).every((v) => v === 2)).toBe(true);
  s2.checkInvariants();
});

testWithDevice('a deep chain carries its top claim down through a min of 0 (recursive protection): the streamer never takes it', async (ctx) => {
  const p = await pool(ctx, 24);
  const a = createGroup(p, { label: 'a', min: 8 * P });
  const b = createGroup(a, { label: 'b' });
  const c = createGroup(b, { label: 'c', min: 8 * P });
  const d1 = createGroup(c, { label: 'd1' });
  const d2 = createGroup(c, { label: 'd2' });
  const s1 = space(ctx, p, 16, d1, 's1');
  const s2 = space(ctx, p, 16, d2, 's2');
  const z = space(ctx, p, 64, undefined, 'z');
  await run(s1, 0, 6);
  await run(s2, 0, 2);
  const t = byPath(p.budget().tree);
  expect(['a', 'a/b', 'a/b/c', 'a/b/c/d1', 'a/b/c/d2'].map((k) => [t.get(k)!.depth, t.get(k)!.effectiveMin / P])).toEqual([[1, 8], [2, 8], [3, 8], [4, 6], [4, 2]]);
  const ev = evictions(p);
  for (let first = 0; first < 64; first += 8) await run(z, first, 8);
  await run(z, 0, 16);
  ev.stop();
  expect([ev.counts.get('s1') ?? 0, ev.counts.get('s2') ?? 0]).toEqual([0, 0]);
  const e = await failure(run(z, 0, 17));
  expect(e).toBeInstanceOf(WorkingSetTooLargeError);
  expect(e.message).toMatch(/"a\/b\/c\/d1" 24576, "a\/b\/c\/d2" 8192/);
  expect([s1.residency(0, 6 * P).residentBytes, s2.residency(0, 2 * P).residentBytes]).toEqual([6 * P, 2 * P]);
  s1.checkInvariants();
});

testWithDevice('pins up to the root: refused at the right level, naming it and the numbers, with nothing changed', async (ctx) => {
  const p = await pool(ctx, 16, { pinLimit: 8 * P });
  const top = createGroup(p, { label: 'T', min: 2 * P });
  const leaf = createGroup(top, { label: 'L', min: 4 * P }); // its own limit 4, but T allows 2
  const zero = createGroup(top, { label: 'L0' }); // min 0: pins nothing (the RFC's default)
  const other = createGroup(p, { label: 'U', pinLimit: 8 * P });
  const s = space(ctx, p, 16, leaf, 's');
  const s0 = space(ctx, p, 16, zero, 's0');
  const u = space(ctx, p, 16, other, 'u');
  const before = p.budget();
  const e = await failure(s.pin(0, 3 * P));
  expect(e).toBeInstanceOf(GroupPinLimitError);
  expect(e).toMatchObject({ code: 'PIN_LIMIT', group: 'T', pinningGroup: 'T/L', requested: 3 * P, pinned: 0, limit: 2 * P });
  expect(e.message).toMatch(/under its ancestor "T", over that group's pin limit of 8192 bytes/);
  expect(p.budget()).toEqual(before); // nothing faulted in, nothing pinned
  expect(s.residency(0, 3 * P).unpopulated).toBe(3);
  await s.pin(0, 2 * P);
  let t = byPath(p.budget().tree);
  expect(['T/L', 'T', 'root'].map((k) => t.get(k)!.pinned)).toEqual([2 * P, 2 * P, 2 * P]);
  expect(await failure(s.pin(2 * P, P))).toMatchObject({ group: 'T', pinned: 2 * P, limit: 2 * P });
  expect(await failure(s0.pin(0, P))).toMatchObject({ group: 'T/L0', pinningGroup: undefined, limit: 0 });
  // The root's limit is the pool's: 2 + 6 = 8, one more is the pool's PinLimitError (not a group's).
  await u.pin(0, 6 * P);
  const pe = await failure(u.pin(6 * P, P));
  expect(pe).toBeInstanceOf(PinLimitError);
  expect(pe).not.toBeInstanceOf(GroupPinLimitError);
  // Unpinning under T makes room at T again.
  s.unpin(0, P);
  u.unpin(0, P);
  await s.pin(2 * P, P);
  t = byPath(p.budget().tree);
  expect([t.get('T')!.pinned, t.get('root')!.pinned]).toEqual([2 * P, 7 * P]);
  s.checkInvariants();
});

testWithDevice('low is honoured only while something else can be reclaimed; past that it yields, unlike min', async (ctx) => {
  const p = await pool(ctx, 10);
  const a = createGroup(p, { label: 'a', low: 5 * P });
  const sa = space(ctx, p, 16, a, 'sa');
  const sb = space(ctx, p, 16, createGroup(p, { label: 'b' }), 'sb');
  const sc = space(ctx, p, 16, createGroup(p, { label: 'c' }), 'sc');
  await run(sa, 0, 6);
  await run(sb, 0, 4);
  // c needs 3: a's one page above low and b's four come first.
  await run(sc, 0, 3);
  expect(a.usage().used).toBeGreaterThanOrEqual(5 * P);
  expect(a.usage().effectiveLow).toBe(5 * P);
  // c's 3 in use and 4 more: above-low pages run out (2 left), so 2 come from a's low.
  await run(sc, 0, 7);
  const t = byPath(p.budget().tree);
  expect([t.get('a')!.used, t.get('b')!.used, t.get('c')!.used]).toEqual([3 * P, 0, 7 * P]);
  expect(t.get('a')!.evictions.others + t.get('b')!.evictions.others).toBe(7);
  expect(u32(await sa.read(0, 6 * P)).every((v) => v === 1)).toBe(true);
  sa.checkInvariants();
});

testWithDevice('an ancestor\'s max reclaims within its subtree (cause ancestorMax), the group outside untouched; pressure names the group, and a storm\'s end', async (ctx) => {
  const p = await pool(ctx, 32, { pressure: { stormPages: 8, stormWindowMs: 1500 } });
  const parent = createGroup(p, { label: 'P', max: 6 * P });
  const x = space(ctx, p, 16, createGroup(parent, { label: 'x' }), 'x');
  const y = space(ctx, p, 64, createGroup(parent, { label: 'y' }), 'y');
  const out = space(ctx, p, 16, undefined, 'out');
  await run(out, 0, 4);
  await run(x, 0, 3);
  const heard: PressureEvent[] = [];
  const stop = p.onPressure((e) => heard.push(e));
  const ev = evictions(p);
  for (let first = 0; first < 32; first += 3) await run(y, first, 3);
  ev.stop();
  // y streams under P's max of 6: x's 3 pages went first (they were all P could give), then y's own.
  expect([ev.counts.get('x'), ev.counts.get('out') ?? 0]).toEqual([3, 0]);
  const t = byPath(p.budget().tree);
  expect(t.get('P/x')!.evictions).toEqual({ self: 0, ancestorMax: 3, others: 0 });
  expect(t.get('P/y')!.evictions.self).toBeGreaterThan(0);
  expect(t.get('P')!.used).toBe(6 * P);
  expect(p.budget().free).toBe(22 * P); // the pool had room all along: P's max is what bound
  const storm = heard.filter((e) => e.kind === 'eviction-storm');
  expect(storm.map((e) => [e.phase, e.group])).toEqual([['begin', 'P']]);
  expect(storm[0]).toMatchObject({ limitBytes: 6 * P });
  expect(heard.filter((e) => e.kind === 'high-water').map((e) => [e.phase, e.group])).toEqual([['begin', 'P']]);
  // Quiet for longer than the window: the next event ends the storm.
  await new Promise((r) => setTimeout(r, 1600));
  await out.write(0, new Uint32Array([7]));
  stop();
  expect(heard.filter((e) => e.kind === 'eviction-storm').map((e) => [e.phase, e.group, e.pages])).toEqual([['begin', 'P', storm[0]!.pages], ['end', 'P', 0]]);
  y.checkInvariants();
});

testWithDevice('device loss: createGroup and advise work while lost; recover() keeps the tree, its limits, pins and counts, and protection holds again', async (ctx) => {
  const p = await pool(ctx, 16, { pinLimit: 4 * P });
  const t = createGroup(p, { label: 't', min: 4 * P, low: 6 * P, max: 12 * P });
  const x = createGroup(t, { label: 'x', pinLimit: 2 * P });
  const s = space(ctx, p, 16, x, 's');
  const z = space(ctx, p, 64, undefined, 'z');
  await run(s, 0, 8);
  await s.pin(0, 2 * P);
  for (let first = 0; first < 32; first += 8) await run(z, first, 8);
  const before = p.budget().tree;
  expect(byPath(before).get('t/x')).toMatchObject({ used: 6 * P, pinned: 2 * P });

  ctx.device.destroy();
  const lost = await within(s.prefetch(0, P, { to: 'host' }).catch((e: unknown) => e), 20_000, 'a prefetch after the loss');
  expect(lost).toBeInstanceOf(DeviceLostError);
  // Bookkeeping only: a new group, advice, an unpin.
  const y = createGroup(t, { label: 'y' });
  s.advise(8 * P, P, { readMostly: true });
  s.unpin(P, P);
  expect(() => p.budget()).toThrow(DeviceLostError);

  await within(p.recover((await spareDevice(ctx)).device), 20_000, 'recover');
  const after = byPath(p.budget().tree);
  const was = byPath(before);
  expect([...after.keys()]).toEqual(['root', 't', 't/x', 't/y']);
  for (const k of was.keys()) {
    expect(after.get(k), k).toMatchObject({ max: was.get(k)!.max, min: was.get(k)!.min, low: was.get(k)!.low, pinLimit: was.get(k)!.pinLimit, evictions: was.get(k)!.evictions });
  }
  expect(after.get('t/x')).toMatchObject({ used: P, pinned: P }); // the pin left, uploaded again
  expect(y.parent).toBe(t);
  expect(s.advice(8 * P).readMostly).toBe(true);
  // Protection holds again: s refaults its 8; the streamer gets 16 − 4 and no more.
  await run(s, 0, 8);
  await run(z, 0, 12);
  expect(byPath(p.budget().tree).get('t')!.used).toBe(4 * P);
  expect(await failure(run(z, 0, 13))).toBeInstanceOf(WorkingSetTooLargeError);
  // Pages whose only copy was on the lost device kept their stale host bytes (0, now 1); the rest are 2.
  expect(u32(await s.read(0, 8 * P)).every((v) => v === 1 || v === 2)).toBe(true);
  s.checkInvariants();
});
