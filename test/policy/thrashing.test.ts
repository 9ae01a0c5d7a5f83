// Thrashing detection (src/policy/thrashing.ts) as a pure function of
// migration and invalidation notes: what counts as a hand-over, the lapse and
// the threshold on both sides, holds, and forgetting freed pages.

import { describe, expect, it } from 'vitest';
import { createThrashing, sideOf } from '../../src/policy/thrashing.ts';
import { resolveThrashing, type ThrashingOptions } from '../../src/options.ts';
import type { Policy, PolicyView, ThrashDecision } from '../../src/policy/policy.ts';

const free: PolicyView = { held: () => false };

function make(o: ThrashingOptions = {}, pages = 8): Policy {
  return createThrashing(pages, resolveThrashing({ lapseMs: 50, ...o }));
}
const toDevice = (pol: Policy, pages: number[], now: number, cause = 'declared', v = free): ThrashDecision | undefined =>
  pol.onMigration!({ direction: 'to-device', cause, pages, now }, v);
const toHost = (pol: Policy, pages: number[], now: number, cause = 'explicit', v = free): ThrashDecision | undefined =>
  pol.onMigration!({ direction: 'to-host', cause, pages, now }, v);
const dropped = (pol: Policy, pages: number[], now: number, v = free): ThrashDecision | undefined => pol.onInvalidation!({ pages, now }, v);

describe('thrashing detection', () => {
  it('counts only access-driven migrations as hand-overs', () => {
    expect(sideOf('to-device', 'declared')).toBe('device');
    expect(sideOf('to-device', 'demand')).toBe('device');
    expect(sideOf('to-host', 'explicit')).toBe('host');
    for (const c of ['prefetch', 'explicit', 'restore']) expect(sideOf('to-device', c)).toBeUndefined();
    for (const c of ['eviction', 'snapshot', 'prefetch']) expect(sideOf('to-host', c)).toBeUndefined();
  });

  it('finds a page handed over three times within the lapse: device, host (a write-back or a dropped copy), device', () => {
    const pol = make();
    expect(toDevice(pol, [2, 3], 0)).toBeUndefined();
    expect(toHost(pol, [2], 10)).toBeUndefined();
    expect(dropped(pol, [3], 10)).toBeUndefined();
    const d = toDevice(pol, [2, 3], 20);
    expect(d).toEqual({ pages: [2, 3], migrations: 3, lapseMs: 50, mitigation: 'pin', pinMs: 500 });
  });

  it('the lapse on both sides: the third hand-over at exactly the lapse counts, just after it starts over', () => {
    const at = (t: number) => {
      const pol = make();
      toDevice(pol, [0], 0);
      toHost(pol, [0], 25);
      return toDevice(pol, [0], t);
    };
    expect(at(50)?.pages).toEqual([0]);
    expect(at(50.001)).toBeUndefined();
  });

  it('the threshold on both sides', () => {
    const pol = make({ threshold: 4 });
    toDevice(pol, [1], 0);
    toHost(pol, [1], 1);
    expect(toDevice(pol, [1], 2)).toBeUndefined(); // 3 < 4
    expect(toHost(pol, [1], 3)?.migrations).toBe(4);
    const two = make({ threshold: 2 });
    toDevice(two, [1], 0);
    expect(toHost(two, [1], 1)?.pages).toEqual([1]);
  });

  it('does not count the same side twice: evicted and faulted in again is capacity, not ping-pong', () => {
    const pol = make();
    for (let t = 0; t < 10; t++) expect(toDevice(pol, [4], t)).toBeUndefined();
    // Evictions and prefetches are not heard at all.
    for (let t = 10; t < 20; t++) {
      expect(toHost(pol, [4], t, 'eviction')).toBeUndefined();
      expect(toDevice(pol, [4], t, 'prefetch')).toBeUndefined();
    }
    expect(toHost(pol, [4], 20)).toBeUndefined(); // device → host: 2 hand-overs so far
  });

  it('suspends detection of pages held by an earlier decision, and starts over after it is found', () => {
    const pol = make();
    const held: PolicyView = { held: (p) => p === 5 };
    toDevice(pol, [5, 6], 0, 'declared', held);
    toHost(pol, [5, 6], 1, 'explicit', held);
    expect(toDevice(pol, [5, 6], 2, 'declared', held)?.pages).toEqual([6]);
    // Found once: the count starts over, so the next hand-overs do not report it again at once.
    expect(toHost(pol, [6], 3)).toBeUndefined();
    expect(toDevice(pol, [6], 4)).toBeUndefined();
    expect(toHost(pol, [6], 5)?.pages).toEqual([6]);
  });

  it("mitigation 'none' only reports", () => {
    const pol = make({ mitigation: 'none' });
    toDevice(pol, [0], 0);
    toHost(pol, [0], 1);
    expect(toDevice(pol, [0], 2)).toMatchObject({ pages: [0], mitigation: 'none', pinMs: 0 });
  });

  it('forgets freed pages', () => {
    const pol = make();
    toDevice(pol, [0, 1], 0);
    toHost(pol, [0, 1], 1);
    pol.onForget!(0, 1);
    expect(toDevice(pol, [0, 1], 2)?.pages).toEqual([1]);
  });
});
