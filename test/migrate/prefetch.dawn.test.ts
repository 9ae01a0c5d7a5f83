// Explicit prefetch (space.prefetch, src/migrate/prefetch.ts) on Dawn: to the
// device it removes a dispatch's faults; more than fits is fetched as far as
// it fits and pinned pages are never evicted; a host write racing with the
// copy wins; the host goes on meanwhile; to the host it writes back and drops
// device copies except pinned and read-mostly ones.

import { expect } from 'vitest';
import { testWithDevice, KiB } from '../helpers/gpu.ts';
import { affine, copyKernel, duringFirstCopy, inPlace, makeSpace, u32 } from '../helpers/space.ts';
import { InvalidArgumentError, OutOfRangeError, type HmmEvent } from '../../src/index.ts';
import { buildList, chase, PATTERNS } from '../helpers/patterns.ts';

const PS = 4 * KiB;

testWithDevice('prefetch to the device: the next dispatch faults on nothing, declared or demand-paged', async (ctx) => {
  for (const demand of [false, true]) {
    const { pool, space } = await makeSpace(ctx, { capacity: 64 * PS, pageSize: PS }, 64 * PS);
    const a = space.alloc(16 * PS, { align: PS });
    const fresh = space.alloc(4 * PS, { align: PS }); // never written: cleared, not copied
    await space.write(a, new Uint32Array(16 * 1024).map((_, i) => i));
    for (const withPrefetch of [false, true]) {
      const events: HmmEvent[] = [];
      const off = pool.on((e) => events.push(e));
      if (withPrefetch) {
        const r = await space.prefetch(a, 20 * PS, { to: 'device' });
        expect(r).toEqual({ to: 'device', pages: 20, pagesCopied: 16, pagesCleared: 4, pagesDropped: 0, pagesSkipped: 0, evictions: 0 });
        const pre = events.filter((e) => e.type === 'migration');
        expect(pre.map((e) => e.type === 'migration' && `${e.direction}:${e.cause}:${e.pages}+${e.cleared}`)).toEqual(['to-device:prefetch:16+4']);
        expect(events.some((e) => e.type === 'host' && e.op === 'prefetch')).toBe(true);
      }
      events.length = 0;
      const r = await space.dispatch(inPlace, { workgroups: 16 * 16, args: [a, 16 * 1024], ...(demand ? { demand: true } : { write: [{ addr: a, byteLength: 16 * PS }] }) });
      const faulted = events.filter((e) => e.type === 'migration' && e.direction === 'to-device').reduce((s, e) => s + (e.type === 'migration' ? e.pages : 0), 0);
      expect(faulted).toBe(withPrefetch ? 0 : 16);
      if (demand) expect(r.demand!.pagesFaulted).toBe(withPrefetch ? 0 : 16);
      off();
      // Back to the host for the next round.
      await space.prefetch(a, 20 * PS, { to: 'host' });
      expect(space.residency(a, 20 * PS).residentBytes).toBe(0);
    }
    space.checkInvariants();
  }
});

testWithDevice('prefetching a chased list (sequential, strided, random): two passes instead of one a page, no demand faults', async (ctx) => {
  for (const pattern of PATTERNS) {
    const counts: { passes: number; faulted: number; prefetched: number }[] = [];
    for (const withPrefetch of [false, true]) {
      const { pool, space } = await makeSpace(ctx, { capacity: 256 * PS, pageSize: PS }, 160 * PS, { densityPrefetch: false });
      const list = await buildList(space, pattern, 48);
      let prefetched = 0;
      pool.on((e) => {
        if (e.type === 'migration' && e.cause === 'prefetch') prefetched += e.pages + e.cleared;
      });
      if (withPrefetch) await space.prefetch(list.addr, list.byteLength, { to: 'device' });
      const r = await space.dispatch(chase, { workgroups: 1, args: [list.head, list.out, 48], demand: true });
      expect([...u32(await space.read(list.out, 8))]).toEqual([list.sum, 48]);
      counts.push({ passes: r.demand!.passes, faulted: r.demand!.pagesFaulted, prefetched });
    }
    const [off, on] = counts as [typeof counts[0], typeof counts[0]];
    // Every list page faults, one a pass (the output page comes along as a hint: a stalled invocation's store).
    expect(off).toMatchObject({ faulted: 48, prefetched: 0 });
    expect(off.passes).toBeGreaterThanOrEqual(48);
    // Only the output page is left to fault: one pass finds it, the next completes.
    expect(on).toEqual({ passes: 2, faulted: 1, prefetched: pattern === 'strided' ? 96 : 48 });
  }
});

testWithDevice('prefetch more than fits: resident pages stay, the rest come in address order as far as they fit; pinned pages are never evicted', async (ctx) => {
  const { space, pool } = await makeSpace(ctx, { capacity: 16 * PS, pageSize: PS }, 64 * PS);
  const pinned = space.alloc(4 * PS, { align: PS });
  const a = space.alloc(32 * PS, { align: PS });
  await space.write(a, new Uint32Array(32 * 1024).fill(1));
  await space.pin(pinned, 4 * PS);
  // Two pages of the range resident already, at its end.
  await space.dispatch(affine, { workgroups: 32, write: [{ addr: a + 30 * PS, byteLength: 2 * PS }], args: [a + 30 * PS, 2048, 1, 1] });
  const r = await space.prefetch(a, 32 * PS, { to: 'device' });
  // 16 frames − 4 pinned = 12: the 2 resident pages and the first 10 others.
  expect(r).toMatchObject({ pages: 32, pagesCopied: 10, pagesSkipped: 20 });
  expect(space.residency(a, 10 * PS).residentBytes).toBe(10 * PS);
  expect(space.residency(a + 10 * PS, 20 * PS).residentBytes).toBe(0);
  expect(space.residency(a + 30 * PS, 2 * PS).residentBytes).toBe(2 * PS);
  expect(space.residency(pinned, 4 * PS)).toMatchObject({ pinned: 4, residentBytes: 4 * PS });
  expect(pool.stats().framesFree).toBe(0);
  // Half the pool pinned (the pin limit): a prefetch of 16 other pages gets the other half, evicting unpinned pages only.
  space.unpin(pinned, 4 * PS);
  await space.pin(a + 10 * PS, 8 * PS);
  const b = space.alloc(16 * PS, { align: PS });
  const r2 = await space.prefetch(b, 16 * PS, { to: 'device' });
  expect(r2).toMatchObject({ pages: 16, pagesCleared: 8, pagesSkipped: 8 });
  expect(r2.evictions).toBeGreaterThan(0);
  expect(space.residency(a + 10 * PS, 8 * PS)).toMatchObject({ pinned: 8, residentBytes: 8 * PS });
  space.checkInvariants();
});

testWithDevice('a host write racing with a prefetch wins: its page is left on the host and the next dispatch sees the new bytes', async (ctx) => {
  // The staging path awaits its maps, so the write can land while the copy is in flight.
  const { space, pool } = await makeSpace(ctx, { capacity: 64 * PS, pageSize: PS, uploadPath: 'staging' }, 64 * PS);
  const a = space.alloc(8 * PS, { align: PS });
  const b = space.alloc(8 * PS, { align: PS });
  await space.write(a, new Uint32Array(8 * 1024).fill(5));
  const hit = a + 3 * PS;
  const race = duringFirstCopy(pool, 'staging', () => space.write(hit, new Uint32Array([77])));
  const r = await space.prefetch(a, 8 * PS, { to: 'device' });
  await race.injected();
  expect(r.pagesSkipped).toBe(1);
  expect(space.pageState(hit)).toBe('host');
  expect(space.residency(a, 8 * PS).residentBytes).toBe(7 * PS);
  await space.dispatch(copyKernel, { workgroups: 128, read: [{ addr: a, byteLength: 8 * PS }], write: [{ addr: b, byteLength: 8 * PS }], args: [a, b, 8 * 1024] });
  const got = u32(await space.read(b, 8 * PS));
  expect(got[(hit - a) / 4]).toBe(77);
  expect(got[(hit - a) / 4 + 1]).toBe(5);
  expect(got[0]).toBe(5);
  space.checkInvariants();
});

testWithDevice('the host goes on while a prefetch is in flight', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 512 * PS, pageSize: PS, uploadPath: 'staging' }, 512 * PS);
  const a = space.alloc(256 * PS, { align: PS });
  const b = space.alloc(PS, { align: PS });
  await space.write(a, new Uint32Array(256 * 1024).fill(3));
  await space.write(b, new Uint32Array([42]));
  const order: string[] = [];
  const pre = space.prefetch(a, 256 * PS, { to: 'device' }).then(() => order.push('prefetch'));
  // Host work meanwhile: a read and a write of other pages do not wait for the copies.
  const read = space.read(b, 4).then((v) => order.push(`read ${u32(v)[0]}`));
  const write = space.write(b, new Uint32Array([43])).then(() => order.push('write'));
  await Promise.all([pre, read, write]);
  expect(order.indexOf('prefetch')).toBe(2);
  expect(u32(await space.read(b, 4))[0]).toBe(43);
  expect(space.residency(a, 256 * PS).residentBytes).toBe(256 * PS);
  space.checkInvariants();
});

testWithDevice('prefetch to the host writes dirty pages back and drops device copies, except pinned and read-mostly pages', async (ctx) => {
  const { space, pool } = await makeSpace(ctx, { capacity: 64 * PS, pageSize: PS }, 64 * PS);
  const a = space.alloc(8 * PS, { align: PS });
  await space.write(a, new Uint32Array(8 * 1024).fill(1));
  // Pages 0–5 dirty on the device, 6–7 resident and clean.
  await space.dispatch(affine, { workgroups: 96, write: [{ addr: a, byteLength: 6 * PS }], read: [{ addr: a + 6 * PS, byteLength: 2 * PS }], args: [a, 6 * 1024, 2, 0] });
  await space.pin(a, PS);
  space.advise(a + PS, PS, { readMostly: true });
  const events: HmmEvent[] = [];
  pool.on((e) => events.push(e));
  const r = await space.prefetch(a, 8 * PS, { to: 'host' });
  expect(r).toEqual({ to: 'host', pages: 8, pagesCopied: 6, pagesCleared: 0, pagesDropped: 6, pagesSkipped: 0, evictions: 0 });
  const back = events.filter((e) => e.type === 'migration');
  expect(back.map((e) => e.type === 'migration' && `${e.direction}:${e.cause}:${e.pages}`)).toEqual(['to-host:prefetch:6']);
  expect([0, 1, 2, 7].map((p) => space.pageState(a + p * PS))).toEqual(['shared', 'shared', 'host', 'host']);
  // Everything is on the host now: reading moves nothing.
  events.length = 0;
  expect(u32(await space.read(a, 4))[0]).toBe(2);
  expect(events.filter((e) => e.type === 'migration')).toEqual([]);
  space.checkInvariants();
});

testWithDevice('prefetch refuses a bad target or range', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 16 * PS, pageSize: PS }, 16 * PS);
  await expect(space.prefetch(0, PS, {} as never)).rejects.toThrow(/pass \{ to: 'device' \} or \{ to: 'host' \}/);
  await expect(space.prefetch(0, PS, { to: 'gpu' } as never)).rejects.toThrow(InvalidArgumentError);
  await expect(space.prefetch(0, PS, undefined as never)).rejects.toThrow(InvalidArgumentError);
  await expect(space.prefetch(0, 17 * PS, { to: 'device' })).rejects.toThrow(OutOfRangeError);
  await expect(space.prefetch(0, 0, { to: 'device' })).rejects.toThrow(InvalidArgumentError);
  expect(space.residency().residentBytes).toBe(0);
});
