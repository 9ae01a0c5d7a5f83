// Prefetch inside memory groups: explicit prefetch to the device (a hint, so
// a range larger than what may be made resident is fetched as far as it fits)
// and density prefetch (pages fetched unasked with a demand fault) must both
// respect a group's max exactly as a fault-in does — a group at its max makes
// room by evicting its own pages first, never takes a free frame past its max,
// and never touches another group's pages for it. The group's usage is
// sampled at every migration and eviction event, so a moment over max is seen.

import { expect } from 'vitest';
import { testWithDevice, KiB } from '../helpers/gpu.ts';
import { affine, u32 } from '../helpers/space.ts';
import { buildList, chase } from '../helpers/patterns.ts';
import { createGroup, createPool, createSpace, type AddressSpace, type MemoryGroup, type Pool } from '../../src/index.ts';
import type { DeviceContext } from '../helpers/gpu.ts';

const P = 4 * KiB;
const W = P / 4;

const idOf = (s: AddressSpace) => (s as unknown as { core: { id: number } }).core.id;

/** The most the group held at any event, and pages evicted per space id, while listening. */
function watch(pool: Pool, g: MemoryGroup): { most(): number; evicted: Map<number, number>; stop(): void } {
  let most = g.usage().used;
  const evicted = new Map<number, number>();
  const stop = pool.on((e) => {
    most = Math.max(most, g.usage().used);
    if (e.type === 'eviction') evicted.set(e.spaceId, (evicted.get(e.spaceId) ?? 0) + e.pages);
  });
  return { most: () => most, evicted, stop };
}

interface World {
  readonly pool: Pool;
  readonly g: MemoryGroup;
  /** In the group: 32 pages, word i = i on pages 0–15. */
  readonly s: AddressSpace;
  /** In the root group: 4 resident, device-dirty pages (its words doubled). */
  readonly other: AddressSpace;
}

/** A pool of 16 frames; a group of max 4 pages (pin limit 1 page) at its max with pages 0–3 (each word + 1). */
async function world(ctx: DeviceContext): Promise<World> {
  const pool = ctx.track(await createPool(ctx.device, { capacity: 16 * P, pageSize: P }));
  const g = createGroup(pool, { label: 'capped', max: 4 * P, pinLimit: P });
  const s = ctx.track(createSpace(pool, { size: 32 * P, strict: true, group: g, label: 'grouped' }));
  const other = ctx.track(createSpace(pool, { size: 8 * P, strict: true, label: 'other' }));
  await s.write(0, Uint32Array.from({ length: 16 * W }, (_, i) => i));
  await other.write(0, Uint32Array.from({ length: 4 * W }, (_, i) => i));
  await other.dispatch(affine, { workgroups: 4 * 16, write: [{ addr: 0, byteLength: 4 * P }], args: [0, 4 * W, 2, 0] });
  await s.dispatch(affine, { workgroups: 4 * 16, write: [{ addr: 0, byteLength: 4 * P }], args: [0, 4 * W, 1, 1] });
  expect(g.usage().used).toBe(4 * P);
  return { pool, g, s, other };
}

async function expectData(w: World): Promise<void> {
  const got = u32(await w.s.read(0, 16 * P));
  for (let i = 0; i < 16 * W; i++) if (got[i] !== (i < 4 * W ? i + 1 : i)) throw new Error(`word ${i}: ${got[i]}`);
  const o = u32(await w.other.read(0, 4 * P));
  for (let i = 0; i < 4 * W; i++) if (o[i] !== i * 2) throw new Error(`other word ${i}: ${o[i]}`);
  w.s.checkInvariants();
}

testWithDevice('prefetch to the device into a group at its max: its own pages make room, the rest is skipped, max is never passed', async (ctx) => {
  const w = await world(ctx);
  const free = w.pool.stats().framesFree;
  const seen = watch(w.pool, w.g);
  // Six pages into a group that may hold four: four fit (each evicting one of its own), two are skipped.
  const r = await w.s.prefetch(8 * P, 6 * P, { to: 'device' });
  seen.stop();
  expect(r).toEqual({ to: 'device', pages: 6, pagesCopied: 4, pagesCleared: 0, pagesDropped: 0, pagesSkipped: 2, evictions: 4 });
  expect(seen.most()).toBe(4 * P);
  expect(seen.evicted.get(idOf(w.s))).toBe(4);
  expect(seen.evicted.get(idOf(w.other)) ?? 0).toBe(0);
  expect(w.pool.stats().framesFree).toBe(free); // the pool had free frames: the group's max is what made it evict
  expect(w.s.residency(8 * P, 4 * P).residentBytes).toBe(4 * P);
  expect(w.g.usage()).toMatchObject({ used: 4 * P, evictedBySelf: 4, evictedByOthers: 0 });
  await expectData(w);
});

testWithDevice('prefetch into a group at its max: pages already resident stay and count; a pinned page is never evicted and takes its room', async (ctx) => {
  const w = await world(ctx);
  await w.s.pin(0, P); // page 0: pinned, resident; the group may hold 3 others
  const seen = watch(w.pool, w.g);
  // Pages 2–7: 2 and 3 are resident already; one more fits (evicting page 1, the only unpinned page outside the range).
  const r = await w.s.prefetch(2 * P, 6 * P, { to: 'device' });
  expect(r).toMatchObject({ pages: 6, pagesCopied: 1, pagesSkipped: 3, evictions: 1 });
  expect(w.s.residency(0, 8 * P)).toMatchObject({ pinned: 1, residentBytes: 4 * P });
  expect(w.s.pageState(P)).toBe('host');
  // A range the group cannot hold at all beside the pin: three of it fit, evicting 2, 3 and 4.
  const again = await w.s.prefetch(10 * P, 8 * P, { to: 'device' });
  seen.stop();
  expect(again).toMatchObject({ pages: 8, pagesCopied: 3, pagesCleared: 0, pagesSkipped: 5, evictions: 3 });
  expect(seen.most()).toBe(4 * P);
  expect(seen.evicted.get(idOf(w.other)) ?? 0).toBe(0);
  expect(w.s.residency(0, P)).toMatchObject({ pinned: 1, residentBytes: P });
  w.s.unpin(0, P);
  await expectData(w);
});

testWithDevice('prefetch beside a group holding its min: what the min protects is left alone and the rest of the range is skipped', async (ctx) => {
  const pool = ctx.track(await createPool(ctx.device, { capacity: 8 * P, pageSize: P }));
  const g = createGroup(pool, { label: 'protected', min: 6 * P });
  const guarded = ctx.track(createSpace(pool, { size: 8 * P, strict: true, group: g }));
  const s = ctx.track(createSpace(pool, { size: 16 * P, strict: true }));
  await guarded.write(0, Uint32Array.from({ length: 6 * W }, (_, i) => i));
  await guarded.dispatch(affine, { workgroups: 6 * 16, write: [{ addr: 0, byteLength: 6 * P }], args: [0, 6 * W, 3, 0] });
  await s.write(0, Uint32Array.from({ length: 16 * W }, (_, i) => i + 7));
  const r = await s.prefetch(0, 16 * P, { to: 'device' });
  expect(r).toMatchObject({ pages: 16, pagesCopied: 2, pagesSkipped: 14, evictions: 0 });
  expect(g.usage()).toMatchObject({ used: 6 * P, protected: 6 * P, evictedByOthers: 0 });
  const got = u32(await guarded.read(0, 6 * P));
  for (let i = 0; i < 6 * W; i++) if (got[i] !== i * 3) throw new Error(`word ${i}: ${got[i]}`);
  expect(u32(await s.read(15 * P, 4))[0]).toBe(15 * W + 7);
  s.checkInvariants();
});

testWithDevice('density prefetch in a group: it fetches ahead, but only into the room the group\'s max leaves', async (ctx) => {
  const runs: { dense: number; most: number; passes: number }[] = [];
  for (const grouped of [false, true]) {
    const pool = ctx.track(await createPool(ctx.device, { capacity: 64 * P, pageSize: P }));
    const g = createGroup(pool, { label: 'chaser', max: 8 * P });
    // An eager density prefetch: a 32-page subtree is fetched once one page of it is wanted (1 > 0.02 × 32).
    const densityPrefetch = { threshold: 0.02, blockSize: 64 * P };
    const s = ctx.track(createSpace(pool, { size: 64 * P, strict: true, thrashing: false, densityPrefetch, ...(grouped ? { group: g } : {}) }));
    // A 7-node chase and its output page: 8 pages, exactly the group's max; 24 written pages after them for
    // density prefetch to reach for.
    const list = await buildList(s, 'sequential', 7);
    const after = s.alloc(24 * P, { align: P });
    await s.write(after, new Uint32Array(24 * W).fill(9));
    let most = 0;
    const stop = pool.on(() => (most = Math.max(most, pool.budget().used)));
    const r = await s.dispatch(chase, { workgroups: 1, args: [list.head, list.out, 7], demand: true });
    stop();
    expect([...u32(await s.read(list.out, 8))]).toEqual([list.sum, 7]);
    expect(u32(await s.read(after, 24 * P)).every((x) => x === 9)).toBe(true);
    s.checkInvariants();
    runs.push({ dense: r.demand!.pagesDensityPrefetched, most, passes: r.demand!.passes });
  }
  const [free, capped] = runs as [typeof runs[0], typeof runs[0]];
  // Unconstrained, the first fault (page 1) brings the rest of pages 0–31 that hold data: 30 pages.
  expect(free.dense).toBe(30);
  expect(free.most).toBe(31 * P);
  // In the group it still acts, within the room the fault leaves (8 − 1 pages): never more than max, and the
  // chase completes in the same two passes (its 7 nodes and output page all came with the first fault).
  expect(capped.dense).toBe(7);
  expect(capped.most).toBe(8 * P);
  expect(capped.passes).toBe(free.passes);
});
