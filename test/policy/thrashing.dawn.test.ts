// Thrashing on Dawn: a ping-pong pattern (a dispatch writes pages, the host
// writes a word into each, round after round) is found and mitigated — the
// pages stay on the device and host writes are written through, so the
// uploads stop — in declared and demand mode; device-only patterns over an
// oversubscribed pool (sequential, strided, random) are not thrashing; holds
// expire; held pages are still evicted when nothing else can make room.
// Lapses and pins are long here (timing-independent); the unit tests cover
// their boundaries.

import type { PolicyHub } from '../../src/policy/hub.ts';
import { expect } from 'vitest';
import { testWithDevice, KiB } from '../helpers/gpu.ts';
import { affine, coreOf, makeSpace, touchPages, u32 } from '../helpers/space.ts';
import { traceProblems } from '../helpers/trace-format.ts';
import { createKernel, recordTrace, type AddressSpace, type HmmEvent, type Pool, type ThrashingEvent, type ThrashingOptions } from '../../src/index.ts';
import type { DeviceContext } from '../helpers/gpu.ts';

const PS = 4 * KiB;
const LONG = { lapseMs: 600_000, pinMs: 600_000 };

interface PingPong {
  /** Pages uploaded (or cleared) per round. */
  uploads: number[];
  thrashing: ThrashingEvent[];
  events: HmmEvent[];
  space: AddressSpace;
  pool: Pool;
  base: number;
}

/** Each round: a dispatch adds 1 to every word of `pages` pages, then the host writes word 0 of each page. */
async function pingPong(ctx: DeviceContext, thrashing: ThrashingOptions | false, demand: boolean, rounds = 6, pages = 4, spaceSize = 256 * KiB): Promise<PingPong> {
  const { pool, space } = await makeSpace(ctx, { capacity: 256 * KiB, pageSize: PS }, spaceSize, { thrashing, densityPrefetch: false });
  const n = (pages * PS) / 4;
  const base = space.alloc(pages * PS, { align: PS, label: 'ping' });
  const model = new Uint32Array(n).map((_, i) => i);
  await space.write(base, model);
  const events: HmmEvent[] = [];
  pool.on((e) => events.push(e));
  const uploads: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const before = events.length;
    const range = { addr: base, byteLength: pages * PS };
    await space.dispatch(affine, { workgroups: n / 64, args: [base, n, 1, 1], ...(demand ? { demand: true } : { write: [range] }) });
    for (let i = 0; i < n; i++) model[i] = model[i]! + 1;
    for (let p = 0; p < pages; p++) {
      model[(p * PS) / 4] = r * 1000 + p;
      await space.write(base + p * PS, new Uint32Array([r * 1000 + p]));
    }
    let up = 0;
    for (const e of events.slice(before)) if (e.type === 'migration' && e.direction === 'to-device') up += e.pages + e.cleared;
    uploads.push(up);
    space.checkInvariants();
  }
  expect([...u32(await space.read(base, pages * PS))]).toEqual([...model]);
  const thrash = events.filter((e): e is ThrashingEvent => e.type === 'thrashing');
  return { uploads, thrashing: thrash, events, space, pool, base };
}

for (const demand of [false, true]) {
  const mode = demand ? 'demand' : 'declared';
  testWithDevice(`thrashing (${mode}): ping-pong is found after three hand-overs, named by range, and pinning stops the uploads`, async (ctx) => {
    const off = await pingPong(ctx, false, demand);
    const on = await pingPong(ctx, LONG, demand);
    expect(off.thrashing).toEqual([]);
    expect(off.uploads).toEqual([4, 4, 4, 4, 4, 4]);
    // Round 0: device (1), host write-back (2); round 1: device (3) → found; from round 2 on the pages stay.
    expect(on.thrashing).toHaveLength(1);
    expect(on.thrashing[0]).toMatchObject({ addr: on.base, byteLength: 4 * PS, pages: 4, migrations: 3, mitigation: 'pin', pinMs: LONG.pinMs });
    expect(on.uploads).toEqual([4, 4, 0, 0, 0, 0]);
    // The pool's pressure monitor forwards it (src/trace/pressure.ts).
    const pressure = on.events.filter((e) => e.type === 'pressure' && e.kind === 'thrashing');
    expect(pressure).toMatchObject([{ pages: 4, phase: 'begin', spaceId: on.thrashing[0]!.spaceId }]);
    expect(off.events.some((e) => e.type === 'pressure' && e.kind === 'thrashing')).toBe(false);
    // The host writes are written through instead of dropping the device copies.
    const inv = on.events.filter((e) => e.type === 'invalidation');
    expect(inv.slice(-4).every((e) => e.type === 'invalidation' && e.pagesDropped === 0 && e.pagesWrittenThrough === 1)).toBe(true);
    const bytesOn = on.pool.stats().bytesToDevice;
    const bytesOff = off.pool.stats().bytesToDevice;
    expect(bytesOn).toBeLessThan(bytesOff);
  });
}

testWithDevice("thrashing with mitigation 'none' reports the ping-pong and changes nothing", async (ctx) => {
  const r = await pingPong(ctx, { ...LONG, mitigation: 'none' }, false);
  expect(r.uploads).toEqual([4, 4, 4, 4, 4, 4]);
  // Found at rounds 1, 2/3 (three more hand-overs: host, device, host), 4: each time three hand-overs accumulate.
  expect(r.thrashing.length).toBeGreaterThanOrEqual(2);
  expect(r.thrashing.every((e) => e.mitigation === 'none' && e.pinMs === 0)).toBe(true);
});

testWithDevice('a hold expires: after pinMs the pages are dropped by host writes and uploaded again', async (ctx) => {
  const { pool, space } = await makeSpace(ctx, { capacity: 256 * KiB, pageSize: PS }, 256 * KiB, { thrashing: { lapseMs: 1000, pinMs: 100 }, densityPrefetch: false });
  const hub = coreOf(space).policies as PolicyHub;
  let now = 0;
  hub.clock = () => now;
  const base = space.alloc(PS, { align: PS });
  const events: HmmEvent[] = [];
  pool.on((e) => events.push(e));
  const round = async () => {
    await space.dispatch(affine, { workgroups: 1, write: [{ addr: base, byteLength: PS }], args: [base, 64, 1, 1] });
    await space.write(base, new Uint32Array([7]));
  };
  await round();
  now = 10;
  await round(); // found here
  expect(events.filter((e) => e.type === 'thrashing')).toHaveLength(1);
  expect(space.pageState(base)).toBe('shared'); // written through, still on the device
  now = 109; // held until 110
  await round();
  expect(space.pageState(base)).toBe('shared');
  now = 110;
  events.length = 0;
  await round();
  expect(space.pageState(base)).toBe('host'); // expired: the host write dropped the copy
  expect(events.some((e) => e.type === 'invalidation' && e.pagesDropped === 1)).toBe(true);
  space.checkInvariants();
});

testWithDevice('device-only patterns over an oversubscribed pool are not thrashing: sequential, strided, random', async (ctx) => {
  for (const pattern of ['sequential', 'strided', 'random'] as const) {
    const moves: number[][] = [];
    for (const thrashing of [false, LONG] as const) {
      // 48 pages of data through a 16-frame pool, 3 sweeps of 4-page chunks.
      const { pool, space } = await makeSpace(ctx, { capacity: 64 * KiB, pageSize: PS }, 256 * KiB, { thrashing });
      const base = space.alloc(48 * PS, { align: PS });
      await space.write(base, new Uint32Array((48 * PS) / 4).fill(1));
      const events: HmmEvent[] = [];
      pool.on((e) => events.push(e));
      const chunks = Array.from({ length: 12 }, (_, i) => (pattern === 'strided' ? (i * 5) % 12 : i));
      let x = 99;
      for (let sweep = 0; sweep < 3; sweep++) {
        for (const c0 of chunks) {
          x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
          const c = pattern === 'random' ? x % 12 : c0;
          const addr = base + c * 4 * PS;
          await space.dispatch(affine, { workgroups: (4 * PS) / 256, write: [{ addr, byteLength: 4 * PS }], args: [addr, PS, 1, 1] });
        }
      }
      expect(events.filter((e) => e.type === 'thrashing')).toEqual([]);
      const s = pool.stats();
      moves.push([s.pagesToDevice, s.pagesToHost, s.evictions]);
      expect(s.evictions).toBeGreaterThan(0);
      space.checkInvariants();
    }
    expect(moves[1]).toEqual(moves[0]); // the policy changed nothing
  }
});

testWithDevice('held pages are still evicted when nothing else can make room (progress), and never count as pins', async (ctx) => {
  const r = await pingPong(ctx, LONG, false, 3, 4, 1024 * KiB);
  const { space, pool } = r;
  expect(r.thrashing).toHaveLength(1);
  expect(pool.stats().pinnedBytes).toBe(0);
  expect(space.residency(r.base, 4 * PS).residentBytes).toBe(4 * PS);
  // A dispatch whose working set is the whole pool (64 frames): the 4 held pages must go.
  const big = space.alloc(64 * PS, { align: PS });
  const events: HmmEvent[] = [];
  pool.on((e) => events.push(e));
  await space.dispatch(affine, { workgroups: (64 * PS) / 256, write: [{ addr: big, byteLength: 64 * PS }], args: [big, 16 * KiB, 1, 1] });
  const evicted = new Set<number>();
  for (const e of events) if (e.type === 'eviction') for (const p of e.pageList) evicted.add(p);
  const held = [...r.thrashing[0]!.pageList];
  expect(held.every((p) => evicted.has(p))).toBe(true);
  space.checkInvariants();
});

/** Reads word 0 of each of args[1] pages from args[0]; stores nothing unless a word is all ones. */


testWithDevice('held pages are evicted last: other pages go first', async (ctx) => {
  const lost: number[] = [];
  for (const mitigation of ['none', 'pin'] as const) {
    const r = await pingPong(ctx, { ...LONG, mitigation }, false, 3, 4, 1024 * KiB);
    const { space, pool } = r;
    expect(r.thrashing.length).toBeGreaterThan(0);
    // The ping pages resident and clean in both cases (a read-only dispatch), then 56 dirty pages
    // (the kernels write every word: with access counters a declared page left unwritten stays
    // clean and unreferenced, the first victim): 61 of 64 frames. Two more 8-page dispatches need 13 victims: the first sweep clears every
    // reference bit, and the second takes clean unreferenced pages first — the ping pages, unless held.
    const out = space.alloc(PS, { align: PS });
    await space.dispatch(touchPages, { workgroups: 1, read: [{ addr: r.base, byteLength: 4 * PS }], write: [{ addr: out, byteLength: 4 }], args: [r.base, 4, out] });
    expect(space.residency(r.base, 4 * PS)).toMatchObject({ residentBytes: 4 * PS, shared: 4 });
    const other = space.alloc(56 * PS, { align: PS });
    await space.dispatch(affine, { workgroups: (56 * PS) / 256, write: [{ addr: other, byteLength: 56 * PS }], args: [other, (56 * PS) / 4, 1, 1] });
    const events: HmmEvent[] = [];
    pool.on((e) => events.push(e));
    for (let k = 0; k < 2; k++) {
      const next = space.alloc(8 * PS, { align: PS });
      await space.dispatch(affine, { workgroups: (8 * PS) / 256, write: [{ addr: next, byteLength: 8 * PS }], args: [next, (8 * PS) / 4, 1, 1] });
    }
    const evicted: number[] = [];
    for (const e of events) if (e.type === 'eviction') evicted.push(...e.pageList);
    expect(evicted).toHaveLength(13);
    const ping = r.base / PS;
    lost.push(evicted.filter((p) => p >= ping && p < ping + 4).length);
    space.checkInvariants();
  }
  // Not held: the clean ping pages are evicted first. Held: none of them.
  expect(lost).toEqual([4, 0]);
});

testWithDevice('a thrashing event shows in the Chrome trace as an instant on the migrations track', async (ctx) => {
  const { pool, space } = await makeSpace(ctx, { capacity: 64 * KiB, pageSize: PS }, 64 * KiB, { thrashing: LONG });
  const rec = recordTrace(pool);
  const base = space.alloc(PS, { align: PS });
  for (let r = 0; r < 2; r++) {
    await space.dispatch(affine, { workgroups: 1, write: [{ addr: base, byteLength: PS }], args: [base, 64, 1, 1] });
    await space.write(base, new Uint32Array([r]));
  }
  rec.stop();
  const t = rec.toJSON().traceEvents.find((e) => e.name === 'thrashing');
  expect(t).toMatchObject({ ph: 'i', args: { addr: base, byteLength: PS, mitigation: 'pin' } });
  expect(traceProblems(rec.toJSON())).toEqual([]);
});
