// Memory groups without a GPU: the limits' arithmetic and the victim queries,
// on a real frame table and CLOCK, with a pool reduced to what groups.ts reads.

import { describe, expect, it } from 'vitest';
import { chooseVictims, countEvictable, type VictimQuery } from '../../src/device/eviction.ts';
import { FrameTable } from '../../src/device/frames.ts';
import { GroupTable, type GroupImpl } from '../../src/device/groups.ts';
import type { PoolImpl } from '../../src/device/pool.ts';
import type { SpaceCore } from '../../src/space/core.ts';
import { GroupPinLimitError, InvalidArgumentError, PinLimitError, WorkingSetTooLargeError } from '../../src/errors.ts';

const PS = 4096;

interface FakeSpace {
  id: number;
  label: string;
  pinnedPages: number;
  table: { pins: Uint16Array };
  isPinned(p: number): boolean;
}

function setup(frameCount = 16, pinLimit = 8 * PS) {
  const frames = new FrameTable(frameCount, frameCount);
  const spaces = new Map<number, FakeSpace>();
  const pool = {
    frames, spaces, frameCount, pageSize: PS, capacity: frameCount * PS, pinLimit,
    get pinnedPages() {
      let n = 0;
      for (const s of spaces.values()) n += s.pinnedPages;
      return n;
    },
    check() {},
  };
  const groups = new GroupTable(pool as unknown as PoolImpl);
  const space = (id: number, group?: GroupImpl): SpaceCore => {
    const pins = new Uint16Array(64);
    const s: FakeSpace = { id, label: `s${id}`, pinnedPages: 0, table: { pins }, isPinned: (p) => pins[p]! > 0 };
    spaces.set(id, s);
    groups.assign(id, group ?? groups.root);
    return s as unknown as SpaceCore;
  };
  /** Give `space` `n` frames for pages [first, first + n). */
  const fill = (id: number, n: number, first = 0) => {
    let got = 0;
    while (got < n) got += frames.takeRun(n - got, id, first + got)[1];
  };
  const base: VictimQuery = { evictable: () => true, dirty: () => false };
  return { frames, groups, space, fill, base, pool };
}

describe('createGroup limits', () => {
  it('defaults: max = capacity, min = 0, pinLimit = min (the RFC: pins are allowed against the protected amount)', () => {
    const { groups } = setup();
    const g = groups.create({});
    expect([g.maxFrames, g.minFrames, g.pinFrames]).toEqual([16, 0, 0]);
    const h = groups.create({ min: 4 * PS });
    expect(h.pinFrames).toBe(4);
    expect(h.label).toBe('group2');
  });

  it('refuses sizes that are not whole pages, min over max, pinLimit over max, max over capacity, unknown options', () => {
    const { groups } = setup();
    expect(() => groups.create({ max: 4 * PS + 1 })).toThrow(/multiple of the pool's page size 4096; use 16384 or 20480/);
    expect(() => groups.create({ max: 0 })).toThrow(InvalidArgumentError);
    expect(() => groups.create({ max: 4 * PS, min: 5 * PS })).toThrow(/min 20480 exceeds its max 16384/);
    expect(() => groups.create({ max: 4 * PS, pinLimit: 5 * PS })).toThrow(/pinLimit 20480 exceeds its max 16384/);
    expect(() => groups.create({ max: 4 * PS, min: 4 * PS, pinLimit: 4 * PS })).not.toThrow(); // each exactly at max
    expect(() => groups.create({ max: 17 * PS })).toThrow(/exceeds the pool's capacity/);
    expect(() => groups.create({ mx: PS } as never)).toThrow(/unknown option "mx"/);
  });

  it('the groups\' min may add up to the capacity, not more', () => {
    const { groups } = setup();
    groups.create({ min: 10 * PS });
    groups.create({ min: 6 * PS }); // 16 pages: exactly the capacity
    expect(() => groups.create({ min: PS })).toThrow(/add up to 69632 bytes, over the pool's capacity 65536/);
  });
});

describe('max: a group at its max reuses its own frames', () => {
  it('mustReuse is 0 up to max exactly and 1 for one page more; the root never reuses', () => {
    const { groups, space, fill } = setup();
    const g = groups.create({ max: 4 * PS });
    space(1, g);
    space(2);
    fill(1, 3);
    expect(groups.mustReuse(1, 1)).toBe(0); // 3 + 1 = max exactly
    expect(groups.mustReuse(1, 2)).toBe(1); // one page over
    fill(2, 12); // the root takes the rest of the pool
    expect(groups.mustReuse(2, 5)).toBe(0);
  });

  it('the own-group query takes only the group\'s frames, even when others are older and unreferenced', () => {
    const { frames, groups, space, fill, base } = setup(8);
    const g = groups.create({ max: 4 * PS });
    space(1);
    space(2, g);
    fill(1, 4); // frames 0–3: the root's
    fill(2, 4); // frames 4–7: the group's
    for (let i = 0; i < frames.frameCount; i++) frames.unreference(i);
    const victims = chooseVictims(frames, 2, groups.ownQuery(base, 2));
    expect(victims.every((f) => frames.owner[f] === 2)).toBe(true);
    expect(victims).toHaveLength(2);
  });
});

describe('min: protection from other groups', () => {
  it('others may take a group down to its min exactly, and not one page further', () => {
    const { frames, groups, space, fill, base } = setup(8);
    const a = groups.create({ min: 4 * PS });
    space(1, a);
    space(2);
    fill(1, 6); // two pages above min
    fill(2, 2);
    for (let i = 0; i < frames.frameCount; i++) frames.unreference(i);
    const q = groups.poolQuery(base, 2);
    // Ask for everything: the root's own 2, and a's 2 above its min.
    const victims = chooseVictims(frames, 8, q);
    const fromA = victims.filter((f) => frames.owner[f] === 1).length;
    expect(fromA).toBe(2);
    expect(victims).toHaveLength(4);
    expect(countEvictable(frames, q)).toBe(4);
    // The group itself may take its own frames below its min.
    expect(chooseVictims(frames, 8, groups.poolQuery(base, 1))).toHaveLength(8);
  });

  it('a protected group keeps its reference bits while it is skipped', () => {
    const { frames, groups, space, fill, base } = setup(4);
    const a = groups.create({ min: 2 * PS });
    space(1, a);
    space(2);
    fill(1, 2);
    fill(2, 2);
    chooseVictims(frames, 1, groups.poolQuery(base, 2));
    expect([frames.referenced[0], frames.referenced[1]]).toEqual([1, 1]);
  });

  it('pinned pages use up min (RFC: pinned is subtracted from usage and min, then added back)', () => {
    const { groups, space, fill, pool } = setup(16);
    const a = groups.create({ min: 4 * PS, pinLimit: 4 * PS });
    const s = space(1, a) as unknown as FakeSpace;
    fill(1, 6);
    s.pinnedPages = 3;
    // protected = min(used, max(min, pinned)) = min(6, max(4, 3)) = 4: 3 pinned + 1 unpinned.
    expect(groups.protectedFrames(a)).toBe(4);
    s.pinnedPages = 5; // more pinned than min: all pins count, nothing unpinned is protected
    expect(groups.protectedFrames(a)).toBe(5);
    expect(pool.pinnedPages).toBe(5);
    const u = groups.usage(a);
    expect([u.used, u.pinned, u.protected, u.free]).toEqual([6 * PS, 5 * PS, 5 * PS, 10 * PS]);
  });
});

describe('pin limit', () => {
  it('a group may pin up to its pinLimit exactly; one page more is a GroupPinLimitError naming the group', () => {
    const { groups, space } = setup();
    const g = groups.create({ label: 'latency', max: 8 * PS, min: 2 * PS });
    const s = space(1, g);
    expect(() => groups.checkPin(s, 2)).not.toThrow();
    (s as unknown as FakeSpace).pinnedPages = 2;
    expect(() => groups.checkPin(s, 0)).not.toThrow();
    let err: unknown;
    try {
      groups.checkPin(s, 1);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(GroupPinLimitError);
    expect(err).toBeInstanceOf(PinLimitError);
    const e = err as GroupPinLimitError;
    expect([e.code, e.group, e.requested, e.pinned, e.limit]).toEqual(['PIN_LIMIT', 'latency', PS, 2 * PS, 2 * PS]);
    expect(e.message).toMatch(/memory group "latency", over its pin limit of 8192 bytes/);
  });

  it('pins count across the group\'s spaces', () => {
    const { groups, space } = setup();
    const g = groups.create({ min: 3 * PS });
    const s1 = space(1, g);
    const s2 = space(2, g);
    (s1 as unknown as FakeSpace).pinnedPages = 2;
    expect(() => groups.checkPin(s2, 1)).not.toThrow();
    expect(() => groups.checkPin(s2, 2)).toThrow(GroupPinLimitError);
  });
});

describe('what fits', () => {
  it('a working set of max pages fits a group; max + 1 is refused naming the group', () => {
    const { groups, space } = setup();
    const g = groups.create({ label: 'capped', max: 4 * PS });
    const s = space(1, g);
    expect(() => groups.checkFits(s, Uint32Array.from([0, 1, 2, 3]))).not.toThrow();
    let err: unknown;
    try {
      groups.checkFits(s, Uint32Array.from([0, 1, 2, 3, 4]));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(WorkingSetTooLargeError);
    expect((err as WorkingSetTooLargeError).availableBytes).toBe(4 * PS);
    expect((err as Error).message).toMatch(/memory group "capped" \(max 16384 bytes/);
  });

  it('other groups\' protection and pins shrink what a space can have', () => {
    const { groups, space, fill } = setup(16);
    const a = groups.create({ min: 6 * PS });
    space(1, a);
    const s = space(2);
    fill(1, 8);
    expect(groups.availableFrames(s, Uint32Array.from([0])).available).toBe(10);
    expect(() => groups.checkFits(s, new Uint32Array(11).map((_, i) => i))).toThrow(/other memory groups hold 24576 bytes/);
  });

  it('without groups, only the pool\'s pins count (the behaviour before groups)', () => {
    const { groups, space } = setup(16);
    const s = space(1) as unknown as FakeSpace;
    s.pinnedPages = 3;
    s.table.pins[0] = 1;
    s.table.pins[1] = 1;
    s.table.pins[2] = 1;
    expect(groups.limited).toBe(false);
    expect(groups.availableFrames(s as unknown as SpaceCore, Uint32Array.from([0, 5])).available).toBe(14);
  });
});

describe('eviction counts per group', () => {
  it('counts pages evicted by the group itself and by others', () => {
    const { frames, groups, space, fill } = setup(8);
    const a = groups.create({});
    space(1, a);
    space(2);
    fill(1, 4);
    fill(2, 4);
    const aFrames = [0, 1, 2, 3].filter((f) => frames.owner[f] === 1);
    groups.noteEvictions(1, aFrames.slice(0, 1));
    groups.noteEvictions(2, aFrames.slice(1, 3));
    expect([a.evictedBySelf, a.evictedByOthers]).toEqual([1, 2]);
  });
});

describe('limits in force once the pool is smaller (an out-of-memory shrink, or recover() onto a smaller device)', () => {
  it('max and pin limit are cut to the capacity now, the root\'s pin limit is the pool\'s; the mins stay as promised', () => {
    const { groups, space, pool } = setup(16, 8 * PS);
    const a = groups.create({ label: 'a', max: 12 * PS, min: 2 * PS, pinLimit: 10 * PS });
    const b = groups.create({ label: 'b', max: 4 * PS, min: 2 * PS });
    const s = space(1, a);
    expect([groups.maxFrames(a), groups.pinFrames(a), groups.minFrames()]).toEqual([12, 10, 4]);
    // The pool keeps 8 of its 16 frames (gpu-memory.ts cuts its pinLimit to the capacity too).
    Object.assign(pool, { frameCount: 8, capacity: 8 * PS, pinLimit: 8 * PS });
    expect([groups.maxFrames(a), groups.pinFrames(a), groups.maxFrames(b), groups.pinFrames(b), groups.maxFrames(groups.root)]).toEqual([8, 8, 4, 2, 8]);
    expect(groups.usage(a)).toMatchObject({ max: 8 * PS, min: 2 * PS, pinLimit: 8 * PS, free: 8 * PS });
    expect(a.max).toBe(12 * PS); // as created
    // At its max in force the group reuses its own frames; it may hold no more than that.
    expect(groups.mustReuse(1, 8)).toBe(0);
    expect(groups.mustReuse(1, 9)).toBe(1);
    expect(groups.availableFrames(s, new Uint32Array(12).map((_, i) => i)).available).toBe(8);
    Object.assign(pool, { pinLimit: 4 * PS });
    expect(groups.usage(groups.root).pinLimit).toBe(4 * PS);
    // A pin limit cut to the max in force: the group's error names it.
    (s as unknown as FakeSpace).pinnedPages = 8;
    expect(() => groups.checkPin(s, 1)).toThrow(GroupPinLimitError);
    expect(() => groups.checkPin(s, 1)).toThrow(/over its pin limit of 32768 bytes/);
  });
});
