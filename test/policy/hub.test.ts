// The policy hub (src/policy/hub.ts) without a GPU: a space's page table,
// allocator and event bus behind a stand-in for SpaceCore. It applies
// decisions (holds with expiry, tiers, write-through), emits one 'thrashing'
// event per run of pages, limits prefetch to the room it is given, and
// switches off a policy that throws.

import { describe, expect, it, vi } from 'vitest';
import { PolicyHub } from '../../src/policy/hub.ts';
import { PageFlag, PageState, PageTable } from '../../src/space/page-table.ts';
import { VirtualAllocator } from '../../src/space/allocator.ts';
import { EventBus, type HmmEvent } from '../../src/events.ts';
import { resolveDensityPrefetch, resolveThrashing, type ThrashingOptions } from '../../src/options.ts';
import { Tier } from '../../src/policy/advice.ts';
import type { SpaceCore } from '../../src/space/state.ts';
import type { Policy } from '../../src/policy/policy.ts';

const PS = 4096;

function stand(pages: number, thrashing: ThrashingOptions | boolean = { lapseMs: 1000, pinMs: 100 }, plugins?: { fault?: Policy; migration?: Policy }) {
  const table = new PageTable(pages, 12);
  const events = new EventBus();
  const allocator = new VirtualAllocator(pages * PS, 256);
  const space = { label: 's', id: 7, pageCount: pages, pageSize: PS, table, allocator, pool: { events } } as unknown as SpaceCore;
  const hub = new PolicyHub(space, { densityPrefetch: resolveDensityPrefetch({ blockSize: 8 * PS }, PS), thrashing: resolveThrashing(thrashing) }, plugins);
  let now = 0;
  hub.clock = () => now;
  const seen: HmmEvent[] = [];
  events.on((e) => seen.push(e));
  return { hub, table, allocator, seen, at: (t: number) => (now = t) };
}

/** Make pages resident in the table (a frame number is all the hub looks at). */
function resident(table: PageTable, pages: number[]): void {
  for (const p of pages) table.install(p, p);
}

/** Ping-pong pages three times: device, host (dropped), device. */
function pingPong(hub: PolicyHub, pages: number[]): void {
  hub.migrated('to-device', 'declared', pages);
  hub.invalidated(pages);
  hub.migrated('to-device', 'demand', pages);
}

describe('policy hub', () => {
  it('holds thrashing pages until the pin expires, with one event per run of pages', () => {
    const { hub, seen, at } = stand(16);
    at(10);
    pingPong(hub, [2, 3, 4, 9]);
    const ev = seen.filter((e) => e.type === 'thrashing');
    expect(ev.map((e) => e.type === 'thrashing' && [e.addr, e.byteLength, e.pages, [...e.pageList]])).toEqual([
      [2 * PS, 3 * PS, 3, [2, 3, 4]], [9 * PS, PS, 1, [9]],
    ]);
    expect(ev[0]).toMatchObject({ spaceId: 7, migrations: 3, lapseMs: 1000, mitigation: 'pin', pinMs: 100 });
    expect(hub.held(3)).toBe(true);
    expect(hub.held(5)).toBe(false);
    expect(hub.tiers()(3)).toBe(Tier.LastResort);
    expect(hub.writeThrough(3)).toBe(true);
    at(110); // pinned at 10 for 100: held while the clock is below 110
    expect(hub.held(3)).toBe(false);
    expect(hub.tiers()(3)).toBe(Tier.Normal);
    expect(hub.writeThrough(3)).toBe(false);
  });

  it("mitigation 'none' reports without holding; preferred-host pages are reported, not held", () => {
    const none = stand(8, { mitigation: 'none', lapseMs: 1000 });
    pingPong(none.hub, [1]);
    expect(none.seen.find((e) => e.type === 'thrashing')).toMatchObject({ mitigation: 'none', pinMs: 0 });
    expect(none.hub.held(1)).toBe(false);
    const s = stand(8);
    s.table.setAdvice(1, PageFlag.PreferHost, 0);
    pingPong(s.hub, [0, 1]);
    const ev = s.seen.filter((e) => e.type === 'thrashing');
    expect(ev.map((e) => e.type === 'thrashing' && [e.pageList[0], e.mitigation])).toEqual([[0, 'pin'], [1, 'none']]);
    expect(s.hub.held(1)).toBe(false);
  });

  it('with thrashing off nothing is detected; freeing pages ends their holds', () => {
    const off = stand(8, false);
    pingPong(off.hub, [1]);
    expect(off.seen).toEqual([]);
    const s = stand(8);
    pingPong(s.hub, [1, 2]);
    s.hub.forget(1, 2);
    expect([s.hub.held(1), s.hub.held(2)]).toEqual([false, true]);
  });

  it('tiers: everything Normal until advice or a hold says otherwise', () => {
    const s = stand(8);
    s.table.setAdvice(0, PageFlag.PreferHost, 0);
    expect(s.hub.tiered).toBe(false);
    expect(s.hub.tiers()(0)).toBe(Tier.Normal); // not asked for until the space notes advice
    s.hub.noteTiers();
    expect(s.hub.tiers()(0)).toBe(Tier.First);
  });

  it('density prefetch: only pages with data or an allocation, never present ones, at most the room', () => {
    const s = stand(16);
    resident(s.table, [0, 1, 2, 3, 4]);
    // Block of 8 pages; 0–4 resident, 5 faults: [0,8) is 6 of 8 → 6 and 7, but they hold no data and no allocation.
    expect(s.hub.prefetchFor([5], new Set([5]), 10)).toEqual([]);
    s.table.invalidate(6); // written by the host: Host
    expect(s.hub.prefetchFor([5], new Set([5]), 10)).toEqual([6]);
    s.allocator.alloc(7 * PS, PS); // pages 1–7 (page 0 holds the null guard)
    expect(s.hub.prefetchFor([5], new Set([5]), 10)).toEqual([6, 7]);
    expect(s.hub.prefetchFor([5], new Set([5]), 1)).toEqual([6]);
    expect(s.hub.prefetchFor([5], new Set([5]), 0)).toEqual([]);
    // The lock set counts as present and is never fetched again.
    expect(s.hub.prefetchFor([5], new Set([5, 7]), 10)).toEqual([6]);
    s.table.setAdvice(6, PageFlag.PreferHost, 0);
    expect(s.hub.prefetchFor([5], new Set([5]), 10)).toEqual([7]);
  });

  it('a policy that throws is switched off for the space and reported once; the mechanism gets no decision', () => {
    const errors = vi.spyOn(console, 'error').mockImplementation(() => undefined);
    let calls = 0;
    const bug = () => {
      calls++;
      throw new Error('policy bug');
    };
    const s = stand(8, true, { fault: { name: 'bad', onFault: bug }, migration: { name: 'worse', onMigration: bug, onInvalidation: bug } });
    for (let p = 0; p < 8; p++) s.table.invalidate(p);
    expect(s.hub.prefetchFor([1], new Set([1]), 4)).toEqual([]);
    expect(s.hub.prefetchFor([1], new Set([1]), 4)).toEqual([]);
    s.hub.migrated('to-device', 'declared', [1]);
    s.hub.migrated('to-device', 'declared', [1]);
    s.hub.invalidated([1]);
    expect(calls).toBe(2);
    expect(errors).toHaveBeenCalledTimes(2);
    expect(String(errors.mock.calls[0]![0])).toMatch(/policy "bad" threw in onFault and was switched off/);
    expect(String(errors.mock.calls[1]![0])).toMatch(/policy "worse" threw in onMigration/);
    errors.mockRestore();
  });

  it('a decision that breaks the rules is an internal error, not a silent wrong fetch', () => {
    const liar: Policy = { name: 'liar', onFault: () => [3, 1] };
    const s = stand(8, true, { fault: liar });
    expect(() => s.hub.prefetchFor([0], new Set([0]), 4)).toThrow(/not ascending/);
    const present: Policy = { name: 'present', onFault: () => [0] };
    expect(() => stand(8, true, { fault: present }).hub.prefetchFor([0], new Set([0]), 4)).toThrow(/present/);
  });
});
