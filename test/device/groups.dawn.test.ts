// Memory groups, budget and pressure on Dawn (issue 7 items 6–7): each limit
// on both sides of its boundary, who evicts whom (counted from the event
// stream), and pressure events on patterns that should and should not raise
// them.

import { expect } from 'vitest';
import { testWithDevice, KiB } from '../helpers/gpu.ts';
import { affine, makeSpace, poolImpl, u32 } from '../helpers/space.ts';
import { traceProblems } from '../helpers/trace-format.ts';
import {
  createGroup, createPool, createSpace, GroupPinLimitError, PinLimitError, PoolMismatchError, recordTrace, WorkingSetTooLargeError,
  type AddressSpace, type HmmEvent, type MemoryGroup, type Pool, type PoolOptions, type PressureEvent,
} from '../../src/index.ts';
import type { DeviceContext } from '../helpers/gpu.ts';

const P = 4 * KiB;
const WORDS = P / 4;

/** a[i] = a[i]·mul + add over `pages` pages from `firstPage`, declared write. */
const run = (space: AddressSpace, firstPage: number, pages: number, mul = 1, add = 1) =>
  space.dispatch(affine, {
    workgroups: (pages * WORDS) / 64, write: [{ addr: firstPage * P, byteLength: pages * P }], args: [firstPage * P, pages * WORDS, mul, add],
  });

async function pool(ctx: DeviceContext, frames: number, extra: PoolOptions = {}): Promise<Pool> {
  return ctx.track(await createPool(ctx.device, { capacity: frames * P, pageSize: P, ...extra }));
}

function space(ctx: DeviceContext, p: Pool, pages: number, group?: MemoryGroup, label = 'space'): AddressSpace {
  return ctx.track(createSpace(p, { size: pages * P, strict: true, label, ...(group ? { group } : {}) }));
}

/** Pages evicted per space id, from eviction events. */
function evictionsBySpace(p: Pool): { counts: Map<number, number>; stop(): void } {
  const counts = new Map<number, number>();
  const stop = p.on((e: HmmEvent) => {
    if (e.type === 'eviction') counts.set(e.spaceId, (counts.get(e.spaceId) ?? 0) + e.pages);
  });
  return { counts, stop };
}

const idOf = (s: AddressSpace) => (s as unknown as { core: { id: number } }).core.id;

testWithDevice('max: a working set of exactly max fits; one page more is refused naming the group, moving nothing', async (ctx) => {
  const p = await pool(ctx, 16);
  const g = createGroup(p, { label: 'capped', max: 4 * P });
  const s = space(ctx, p, 64, g);
  expect(s.group).toBe(g);
  await run(s, 0, 4);
  expect(g.usage().used).toBe(4 * P);
  const before = p.stats();
  const err = await run(s, 8, 5).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(WorkingSetTooLargeError);
  expect((err as WorkingSetTooLargeError).availableBytes).toBe(4 * P);
  expect((err as Error).message).toMatch(/memory group "capped" \(max 16384 bytes, 16384 used/);
  const after = p.stats();
  expect([after.bytesToDevice, after.pagesCleared, after.evictions]).toEqual([before.bytesToDevice, before.pagesCleared, before.evictions]);
  expect(p.stats().framesFree).toBe(12); // the pool had room: the group's max is what refused
  s.checkInvariants();
});

testWithDevice('a group at its max evicts its own pages first, though the pool has free frames and others have old pages', async (ctx) => {
  const p = await pool(ctx, 16);
  const g = createGroup(p, { label: 'stream', max: 4 * P });
  const other = space(ctx, p, 64, undefined, 'other');
  const s = space(ctx, p, 64, g, 'grouped');
  await run(other, 0, 4, 1, 7); // the root's pages: resident, dirty, oldest
  const ev = evictionsBySpace(p);
  await s.write(0, new Uint32Array(12 * WORDS).map((_, i) => i));
  for (const first of [0, 4, 8]) await run(s, first, 4, 2, 1); // at max from the first: 4 + 4 own evictions
  // The host rewrites page 8 (same bytes; its device copy is dropped): the group holds 3. Two new pages
  // are one over max: one own page goes, the other comes from a free frame.
  await s.write(8 * P, new Uint32Array(WORDS).map((_, i) => (8 * WORDS + i) * 2 + 1));
  await run(s, 12, 2, 1, 0);
  ev.stop();
  expect(ev.counts.get(idOf(other)) ?? 0).toBe(0);
  expect(ev.counts.get(idOf(s))).toBe(8 + 1);
  const u = g.usage();
  expect([u.used, u.evictedBySelf, u.evictedByOthers]).toEqual([4 * P, 9, 0]);
  expect(p.stats().framesFree).toBe(8);
  expect(other.residency(0, 4 * P).device).toBe(4);
  const out = u32(await s.read(0, 12 * P));
  for (let i = 0; i < 12 * WORDS; i++) if (out[i] !== i * 2 + 1) throw new Error(`word ${i}: ${out[i]}`);
  s.checkInvariants();
});

testWithDevice('min: another group\'s pressure evicts nothing of a group at its min, and only what is above it', async (ctx) => {
  const p = await pool(ctx, 8);
  const a = createGroup(p, { label: 'protected', min: 4 * P });
  const sa = space(ctx, p, 64, a, 'a');
  const sb = space(ctx, p, 64, undefined, 'b');
  await run(sa, 0, 4); // a holds exactly its min
  const ev = evictionsBySpace(p);
  for (let first = 0; first < 32; first += 4) await run(sb, first, 4); // b streams through the other 4 frames
  expect(ev.counts.get(idOf(sa)) ?? 0).toBe(0);
  expect(ev.counts.get(idOf(sb))).toBe(28);
  expect(sa.residency(0, 4 * P).residentBytes).toBe(4 * P);
  // One page more than the unprotected frames cannot fit.
  const err = await run(sb, 40, 5).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(WorkingSetTooLargeError);
  expect((err as Error).message).toMatch(/other memory groups hold 16384 bytes/);
  // a grows 2 pages above its min (a dispatch over its 4 and 2 more: b's frames are the only ones it may
  // take); b's next 4 pages take exactly those 2 back, not more.
  await run(sa, 0, 6);
  expect(a.usage().used).toBe(6 * P);
  await run(sb, 48, 4);
  ev.stop();
  expect(ev.counts.get(idOf(sa))).toBe(2);
  expect(a.usage()).toMatchObject({ used: 4 * P, protected: 4 * P, evictedByOthers: 2 });
  sa.checkInvariants();
});

testWithDevice('with and without groups: a latency space\'s hot set beside a streaming space, sequential and random order', async (ctx) => {
  // The latency space keeps touching its 4 hot pages, one per step; the batch space streams 32 pages through
  // an 8-frame pool, 2 per dispatch. Without groups CLOCK treats both alike and the hot pages are evicted and
  // faulted back; with groups (latency min = its hot set, batch max = the rest) the batch evicts only its own.
  const order = (random: boolean) => {
    const pages = [...Array(16).keys()].map((i) => i * 2);
    let x = 12345;
    if (random) for (let i = pages.length - 1; i > 0; i--) {
      x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
      const j = x % (i + 1);
      [pages[i], pages[j]] = [pages[j]!, pages[i]!];
    }
    return pages;
  };
  const result: Record<string, { refaults: number; latencyEvicted: number; evictions: number }> = {};
  for (const grouped of [true, false]) {
    for (const random of [false, true]) {
      const p = await pool(ctx, 8);
      const lat = space(ctx, p, 16, grouped ? createGroup(p, { label: 'latency', min: 4 * P }) : undefined, 'latency');
      const bat = space(ctx, p, 64, grouped ? createGroup(p, { label: 'batch', max: 4 * P }) : undefined, 'batch');
      await run(lat, 0, 4);
      let refaults = 0;
      const ev = evictionsBySpace(p);
      const stop = p.on((e) => {
        if (e.type === 'migration' && e.direction === 'to-device' && e.spaceId === idOf(lat)) refaults += e.pages + e.cleared;
      });
      const e0 = p.stats().evictions;
      let step = 0;
      for (const first of order(random)) {
        await run(bat, first, 2);
        await run(lat, step++ % 4, 1);
      }
      stop();
      ev.stop();
      result[`${grouped ? 'groups' : 'none'}/${random ? 'random' : 'sequential'}`] = {
        refaults, latencyEvicted: ev.counts.get(idOf(lat)) ?? 0, evictions: p.stats().evictions - e0,
      };
      const out = u32(await lat.read(0, 4 * P));
      for (let i = 0; i < 4 * WORDS; i++) if (out[i] !== 1 + 4) throw new Error(`latency word ${i}: ${out[i]}`);
      lat.destroy();
      bat.destroy();
    }
  }
  for (const pattern of ['sequential', 'random']) {
    expect(result[`groups/${pattern}`]).toMatchObject({ refaults: 0, latencyEvicted: 0 });
    expect(result[`none/${pattern}`]!.refaults).toBeGreaterThan(0);
    expect(result[`none/${pattern}`]!.latencyEvicted).toBeGreaterThan(0);
  }
});

testWithDevice('pins: a group pins up to its pin limit (default: its min); one page more is refused naming it; pins count toward max', async (ctx) => {
  const p = await pool(ctx, 16, { pinLimit: 8 * P });
  const g = createGroup(p, { label: 'pinner', max: 4 * P, min: 2 * P });
  expect(g.pinLimit).toBe(2 * P);
  const s = space(ctx, p, 64, g);
  await s.pin(0, 2 * P); // exactly the limit
  const err = await s.pin(2 * P, P).catch((e: unknown) => e);
  expect(err).toBeInstanceOf(GroupPinLimitError);
  expect(err).toBeInstanceOf(PinLimitError);
  expect((err as GroupPinLimitError).code).toBe('PIN_LIMIT');
  expect((err as Error).message).toMatch(/memory group "pinner", over its pin limit of 8192 bytes/);
  expect(s.residency(2 * P, P).unpopulated).toBe(1); // nothing moved
  expect(g.usage()).toMatchObject({ pinned: 2 * P, used: 2 * P, protected: 2 * P });
  // max 4 pages, 2 pinned: a dispatch of 2 more fits, of 3 does not.
  await run(s, 8, 2);
  const tooBig = await run(s, 16, 3).catch((e: unknown) => e);
  expect(tooBig).toBeInstanceOf(WorkingSetTooLargeError);
  expect((tooBig as WorkingSetTooLargeError).availableBytes).toBe(2 * P);
  // An explicit pin limit, and the pool's own limit still applies across groups.
  const h = createGroup(p, { label: 'more', pinLimit: 8 * P });
  const t = space(ctx, p, 64, h);
  await t.pin(0, 6 * P); // 2 + 6 = the pool's 8
  const poolErr = await t.pin(6 * P, P).catch((e: unknown) => e);
  expect(poolErr).toBeInstanceOf(PinLimitError);
  expect(poolErr).not.toBeInstanceOf(GroupPinLimitError);
  s.unpin(0, P);
  await s.pin(2 * P, P); // back under the group's limit
  expect(p.budget().pinned).toBe(8 * P);
  s.checkInvariants();
});

testWithDevice('budget: used and free per pool and per group add up; spaces join the root group by default', async (ctx) => {
  const p = await pool(ctx, 16);
  const a = createGroup(p, { label: 'a', max: 8 * P, min: 2 * P });
  const b = createGroup(p, { label: 'b', max: 4 * P });
  const sr = space(ctx, p, 64);
  const sa = space(ctx, p, 64, a);
  const sb = space(ctx, p, 64, b);
  expect(sr.group.label).toBe('root');
  await run(sr, 0, 3);
  await run(sa, 0, 5);
  await run(sb, 0, 4);
  await sa.pin(0, P);
  const bud = p.budget();
  expect(bud.perGroup.map((g) => g.label)).toEqual(['root', 'a', 'b']);
  expect(bud.perGroup.map((g) => g.used)).toEqual([3 * P, 5 * P, 4 * P]);
  expect(bud.used).toBe(12 * P);
  expect(bud.free).toBe(4 * P);
  expect(bud.used + bud.free).toBe(bud.capacity);
  expect(bud.pinned).toBe(P);
  expect(bud.perGroup[1]).toMatchObject({ max: 8 * P, min: 2 * P, free: 3 * P, pinned: P, protected: 2 * P, spaces: 1 });
  expect(bud.perGroup[2]).toMatchObject({ free: 0, protected: 0 });
  expect(a.usage()).toEqual(bud.perGroup[1]);
  sa.destroy();
  expect(p.budget().perGroup[1]).toMatchObject({ used: 0, pinned: 0, spaces: 0 });
  // A group belongs to its pool.
  const other = await pool(ctx, 4);
  expect(() => createSpace(other, { size: 16 * P, group: a })).toThrow(PoolMismatchError);
});

testWithDevice('demand paging within a group: a transaction over 3× the group\'s max is sliced and never passes it', async (ctx) => {
  const p = await pool(ctx, 32);
  const g = createGroup(p, { max: 4 * P });
  const s = space(ctx, p, 64, g);
  const n = 12 * WORDS;
  await s.write(0, new Uint32Array(n).map((_, i) => i));
  let most = 0;
  const stop = p.on((e) => {
    if (e.type === 'migration') most = Math.max(most, g.usage().used);
  });
  const r = await s.dispatch(affine, { workgroups: n / 64, args: [0, n, 3, 1], demand: true });
  stop();
  expect(r.demand!.commits).toBeGreaterThan(1); // in parts: slices of workgroups or rounds of invocations
  expect(most).toBe(4 * P);
  const out = u32(await s.read(0, n * 4));
  for (let i = 0; i < n; i++) if (out[i] !== i * 3 + 1) throw new Error(`word ${i}: ${out[i]}`);
  s.checkInvariants();
});

/** Pressure events heard while `fn` runs. */
async function pressureDuring(p: Pool, fn: () => Promise<void>): Promise<PressureEvent[]> {
  const heard: PressureEvent[] = [];
  const stop = p.onPressure((e) => heard.push(e));
  try {
    await fn();
  } finally {
    stop();
  }
  return heard;
}

// A long storm window: the tests count pages, not the machine's speed.
const calm = { pressure: { stormWindowMs: 600_000 } };

testWithDevice('pressure: streaming through a tiny pool raises high water and an eviction storm; a resident workload raises nothing', async (ctx) => {
  const p = await pool(ctx, 8, calm);
  const s = space(ctx, p, 64);
  const streamed = await pressureDuring(p, async () => {
    for (let first = 0; first < 32; first += 4) await run(s, first, 4);
  });
  expect(streamed.filter((e) => e.kind === 'high-water').map((e) => e.phase)).toEqual(['begin']);
  const storms = streamed.filter((e) => e.kind === 'eviction-storm');
  expect(storms).toHaveLength(1); // once per window
  expect(storms[0]!.pages).toBe(12); // three dispatches' 4 evictions: the first count over the pool's 8 frames
  // Resident: half the pool, used again and again.
  const q = await pool(ctx, 8, calm);
  const t = space(ctx, q, 64);
  const resident = await pressureDuring(q, async () => {
    for (let i = 0; i < 16; i++) await run(t, 0, 4);
    await t.read(0, 4 * P);
  });
  expect(resident).toEqual([]);
  expect(q.stats().evictions).toBe(0);
});

testWithDevice('pressure: ping-pong between host and GPU over 2× the pool storms; high water ends when the host frees', async (ctx) => {
  const p = await pool(ctx, 8, calm);
  const s = space(ctx, p, 64);
  const a = s.alloc(8 * P - 256, { align: P });
  const b = s.alloc(8 * P, { align: P });
  const heard = await pressureDuring(p, async () => {
    for (let round = 0; round < 3; round++) {
      for (const base of [a, b]) {
        await s.dispatch(affine, { workgroups: (8 * WORDS - 64) / 64, write: [{ addr: base, byteLength: 8 * P - 256 }], args: [base, 8 * WORDS - 64, 1, 1] });
        await s.write(base, new Uint32Array([round]));
      }
    }
    s.free(b);
    s.free(a);
  });
  expect(heard.some((e) => e.kind === 'eviction-storm')).toBe(true);
  expect(heard.filter((e) => e.kind === 'high-water').map((e) => e.phase)).toEqual(['begin', 'end']);
  expect(p.stats().evictionWritebacks).toBeGreaterThan(0);
});

testWithDevice('pressure: a group reaching high water of its max is reported with its name; thrashing is forwarded; the trace shows both', async (ctx) => {
  const p = await pool(ctx, 32, calm);
  const g = createGroup(p, { label: 'tight', max: 4 * P });
  const s = space(ctx, p, 64, g);
  const trace = recordTrace(p);
  const heard = await pressureDuring(p, async () => {
    await run(s, 0, 3); // 0.75 of its max
    await run(s, 3, 1); // 1.0
    // A thrashing detection (src/policy/thrashing.ts; a real one: test/policy/thrashing.dawn.test.ts) arrives as pressure.
    poolImpl(p).events.emit({
      type: 'thrashing', time: performance.now(), space: s.label, spaceId: idOf(s), addr: 0, byteLength: 2 * P, pages: 2,
      migrations: 3, lapseMs: 50, mitigation: 'none', pinMs: 0, pageList: Uint32Array.of(0, 1),
    });
  });
  trace.stop();
  expect(heard.map((e) => [e.kind, e.phase, e.group])).toEqual([['high-water', 'begin', 'tight'], ['thrashing', 'begin', undefined]]);
  expect(heard[0]).toMatchObject({ usedBytes: 4 * P, limitBytes: 4 * P });
  const names = trace.toJSON().traceEvents.filter((e) => e.cat === 'pressure').map((e) => e.name);
  expect(names).toEqual(['pressure: high-water', 'pressure: thrashing']);
  expect(traceProblems(trace.toJSON())).toEqual([]);
});
