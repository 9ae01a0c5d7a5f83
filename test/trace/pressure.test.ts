// The pressure monitor without a GPU: hand-made events and usage.

import { describe, expect, it } from 'vitest';
import { createPressureMonitor, type PressureGroup, type PressureSettings } from '../../src/trace/pressure.ts';
import { resolvePressureOptions } from '../../src/options.ts';
import { InvalidArgumentError } from '../../src/errors.ts';
import type { HmmEvent, PressureEvent } from '../../src/events.ts';

const PS = 4096;

function monitor(settings: Partial<PressureSettings> = {}) {
  const state: { used: number; groupUsed: number; limit: PressureGroup | undefined } = { used: 0, groupUsed: 0, limit: undefined };
  const key = {};
  const group = (): PressureGroup => ({ key, label: 'p/g', maxFrames: 10, usedFrames: state.groupUsed });
  const m = createPressureMonitor(
    { highWater: 0.9, lowWater: 0.75, stormPages: 8, stormWindowMs: 1000, ...settings },
    {
      pageSize: PS, capacityFrames: 20, usedFrames: () => state.used,
      groups: () => [group()],
      evictionLimit: () => state.limit,
    },
  );
  return { m, state, group };
}

const host = (time: number): HmmEvent => ({ type: 'host', time, start: time, space: 's', spaceId: 1, op: 'write', addr: 0, byteLength: 4 });
const eviction = (time: number, pages: number): HmmEvent => ({
  type: 'eviction', time, space: 's', spaceId: 1, pages, writebacks: 0, drops: pages, pageList: new Uint32Array(pages),
});

describe('high water', () => {
  it('begins at the high mark exactly, not one page below, and ends at the low mark, not one page above', () => {
    const { m, state } = monitor();
    state.used = 17; // 0.85 of 20
    expect(m.hear(host(1))).toEqual([]);
    state.used = 18; // 0.9 exactly
    const [begin] = m.hear(host(2));
    expect(begin).toMatchObject({ type: 'pressure', kind: 'high-water', phase: 'begin', usedBytes: 18 * PS, limitBytes: 20 * PS, space: 's', spaceId: 1 });
    expect(begin!.group).toBeUndefined();
    state.used = 20;
    expect(m.hear(host(3))).toEqual([]); // already high: no repeat
    state.used = 16; // 0.8: inside the hysteresis gap
    expect(m.hear(host(4))).toEqual([]);
    state.used = 15; // 0.75 exactly
    expect(m.hear(host(5))).toMatchObject([{ kind: 'high-water', phase: 'end', usedBytes: 15 * PS }]);
    expect(m.hear(host(6))).toEqual([]);
  });

  it('reports each group against its own max', () => {
    const { m, state } = monitor();
    state.groupUsed = 9; // 0.9 of the group's 10
    expect(m.hear(host(1))).toMatchObject([{ kind: 'high-water', phase: 'begin', group: 'p/g', usedBytes: 9 * PS, limitBytes: 10 * PS }]);
    state.groupUsed = 7;
    expect(m.hear(host(2))).toMatchObject([{ kind: 'high-water', phase: 'end', group: 'p/g' }]);
  });

  it('hears nothing in its own events', () => {
    const { m, state } = monitor();
    state.used = 20;
    const [p] = m.hear(host(1));
    state.used = 0;
    expect(m.hear(p as PressureEvent)).toEqual([]);
  });
});

describe('eviction storms', () => {
  it('more than stormPages within the window is a storm; exactly stormPages is not', () => {
    const { m } = monitor();
    expect(m.hear(eviction(0, 4))).toEqual([]);
    expect(m.hear(eviction(500, 4))).toEqual([]); // 8 = stormPages
    expect(m.hear(eviction(600, 1))).toMatchObject([{ kind: 'eviction-storm', phase: 'begin', pages: 9, windowMs: 1000 }]);
  });

  it('evictions older than the window do not count', () => {
    const { m } = monitor();
    m.hear(eviction(0, 8));
    expect(m.hear(eviction(1000, 1))).toEqual([]); // the first fell out of the window
    expect(m.hear(eviction(1001, 8))).toHaveLength(1);
  });

  // Changed with issue 17 (a storm reports its end): it used to be reported again once per window while
  // it lasted; now 'begin' once, and 'end' when the window's evictions fall back.
  it('is reported once per storm: no repeat while it lasts, \'end\' when the window empties, then a new one begins', () => {
    const { m } = monitor();
    expect(m.hear(eviction(0, 20))).toMatchObject([{ kind: 'eviction-storm', phase: 'begin', pages: 20 }]);
    expect(m.hear(eviction(10, 20))).toEqual([]);
    expect(m.hear(eviction(999, 20))).toEqual([]);
    expect(m.hear(eviction(1000, 20))).toEqual([]); // 60 in the window: the same storm
    expect(m.hear(host(1998))).toEqual([]); // 40 still in the window
    expect(m.hear(host(2000))).toMatchObject([{ kind: 'eviction-storm', phase: 'end', pages: 0, windowMs: 1000 }]);
    expect(m.hear(host(2001))).toEqual([]);
    expect(m.hear(eviction(2002, 9))).toMatchObject([{ kind: 'eviction-storm', phase: 'begin', pages: 9 }]);
  });

  it('ends at stormPages × lowWater / highWater or below, not one page above: the high-water marks\' hysteresis', () => {
    // 8 × 0.75 / 1 = 6.
    const above = monitor({ highWater: 1, lowWater: 0.75 }).m;
    above.hear(eviction(0, 2));
    expect(above.hear(eviction(100, 7))).toMatchObject([{ phase: 'begin', pages: 9 }]);
    expect(above.hear(host(1000))).toEqual([]); // 7 left: one over the mark
    expect(above.hear(host(1100))).toMatchObject([{ phase: 'end', pages: 0 }]);
    const at = monitor({ highWater: 1, lowWater: 0.75 }).m;
    at.hear(eviction(0, 3));
    expect(at.hear(eviction(100, 6))).toMatchObject([{ phase: 'begin', pages: 9 }]);
    expect(at.hear(host(1000))).toMatchObject([{ phase: 'end', pages: 6 }]); // the mark exactly
  });

  it('names the group whose max made most of the window\'s evictions, with its numbers; the pool when its capacity did', () => {
    const { m, state, group } = monitor();
    state.used = 12;
    state.groupUsed = 10;
    state.limit = group();
    m.hear(eviction(0, 6));
    state.limit = undefined;
    const [begin] = m.hear(eviction(1, 3));
    expect(begin).toMatchObject({ kind: 'eviction-storm', phase: 'begin', group: 'p/g', usedBytes: 10 * PS, limitBytes: 10 * PS, pages: 9 });
    state.groupUsed = 4;
    const [end] = m.hear(host(2000));
    expect(end).toMatchObject({ kind: 'eviction-storm', phase: 'end', group: 'p/g', usedBytes: 4 * PS, limitBytes: 10 * PS });
    // The pool's own storm: no group, the pool's numbers.
    m.hear(eviction(3000, 4));
    state.limit = group();
    m.hear(eviction(3001, 1));
    state.limit = undefined;
    const [pool] = m.hear(eviction(3002, 4));
    expect(pool).toMatchObject({ kind: 'eviction-storm', phase: 'begin', usedBytes: 12 * PS, limitBytes: 20 * PS });
    expect(pool!.group).toBeUndefined();
  });
});

describe('thrashing', () => {
  it('forwards a thrashing event as pressure', () => {
    const { m } = monitor();
    const thrashing: HmmEvent = {
      type: 'thrashing', time: 5, space: 's', spaceId: 1, addr: 0, byteLength: 3 * 4096, pages: 3,
      migrations: 3, lapseMs: 50, mitigation: 'pin', pinMs: 500, pageList: Uint32Array.of(0, 1, 2),
    };
    expect(m.hear(thrashing)).toMatchObject([{ kind: 'thrashing', phase: 'begin', pages: 3, time: 5 }]);
  });
});

describe('pressure options', () => {
  it('defaults, and a low mark that keeps the default gap below a given high mark', () => {
    expect(resolvePressureOptions(undefined)).toEqual({ highWater: 0.9, lowWater: 0.75, stormPages: undefined, stormWindowMs: 1000 });
    expect(resolvePressureOptions({ highWater: 0.5 }).lowWater).toBeCloseTo(0.35);
    expect(resolvePressureOptions({ highWater: 0.1 }).lowWater).toBeCloseTo(0.05);
  });
  it('refuses marks outside (0, 1], a low mark at or over the high one, and counts that are not positive whole numbers', () => {
    expect(() => resolvePressureOptions({ highWater: 0 })).toThrow(InvalidArgumentError);
    expect(() => resolvePressureOptions({ highWater: 1.01 })).toThrow(/fraction/);
    expect(() => resolvePressureOptions({ highWater: 1 })).not.toThrow();
    expect(() => resolvePressureOptions({ highWater: 0.8, lowWater: 0.8 })).toThrow(/must be below highWater/);
    expect(() => resolvePressureOptions({ stormPages: 0 })).toThrow(/positive whole number/);
    expect(() => resolvePressureOptions({ stormWindowMs: 1.5 })).toThrow(/positive whole number/);
    expect(() => resolvePressureOptions({ stormPages: 1, stormWindowMs: 1 })).not.toThrow();
    expect(() => resolvePressureOptions({ storm: 1 } as never)).toThrow(/unknown pressure option "storm"/);
  });
});
