// Memory groups without a GPU: the limits' arithmetic and the victim choice,
// on a real frame table and CLOCK, with a pool reduced to what groups.ts reads.
// The tree's own semantics (effective protection, tiers, pins up to the root)
// are tested in group-tree.test.ts; here, how the pool is mapped onto it: the
// counts synced from the frame table and the spaces' pins, reclaim plans turned
// into victims, the budget, the limits in force after a shrink.

import { describe, expect, it } from 'vitest';
import { countEvictable, type VictimQuery } from '../../src/device/eviction.ts';
import { FrameTable } from '../../src/device/frames.ts';
import { GroupTable, type GroupImpl, type Reclaim } from '../../src/device/groups.ts';
import type { PoolImpl } from '../../src/device/pool.ts';
import type { SpaceCore } from '../../src/space/state.ts';
import { GroupPinLimitError, InvalidArgumentError, PinLimitError, WorkingSetTooLargeError } from '../../src/errors.ts';

const PS = 4096;

interface FakeSpace {
  id: number;
  label: string;
  pinnedPages: number;
  table: { pins: Uint16Array };
  isPinned(p: number): boolean;
  frameOf(p: number): number;
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
    const s: FakeSpace = {
      id, label: `s${id}`, pinnedPages: 0, table: { pins }, isPinned: (p) => pins[p]! > 0,
      frameOf: (p) => {
        for (let f = 0; f < frames.frameCount; f++) if (frames.owner[f] === id && frames.page[f] === p) return f;
        return 0xffffffff;
      },
    };
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
  /** Victims for `need` more frames of space `id`, `locked` of its frames in use (nothing evicted). */
  const reclaim = (id: number, need: number, locked = 0, q: VictimQuery = base): Reclaim =>
    groups.reclaim(spaces.get(id) as unknown as SpaceCore, need, q, new Uint8Array(frames.frameCount), locked, need + locked);
  const owners = (victims: readonly number[]) => victims.map((f) => frames.owner[f]!);
  return { frames, groups, space, fill, base, pool, reclaim, owners };
}

describe('createGroup limits', () => {
  it('defaults: max = capacity, min = low = 0, pinLimit = min (the RFC: pins are allowed against the protected amount)', () => {
    const { groups } = setup();
    const g = groups.create(groups.root, {});
    expect([g.maxFrames, g.minFrames, g.lowFrames, g.pinFrames]).toEqual([16, 0, 0, 0]);
    const h = groups.create(groups.root, { min: 4 * PS });
    expect(h.pinFrames).toBe(4);
    expect(h.label).toBe('group2');
    expect([h.path, h.parent]).toEqual(['group2', groups.root]);
  });

  it('refuses sizes that are not whole pages, min, low or pinLimit over max, max over capacity, unknown options, a "/" in the label', () => {
    const { groups } = setup();
    const c = (o: object) => () => groups.create(groups.root, o);
    expect(c({ max: 4 * PS + 1 })).toThrow(/multiple of the pool's page size 4096; use 16384 or 20480/);
    expect(c({ max: 0 })).toThrow(InvalidArgumentError);
    expect(c({ max: 4 * PS, min: 5 * PS })).toThrow(/min 20480 exceeds its max 16384/);
    expect(c({ max: 4 * PS, low: 5 * PS })).toThrow(/low 20480 exceeds its max 16384/);
    expect(c({ max: 4 * PS, pinLimit: 5 * PS })).toThrow(/pinLimit 20480 exceeds its max 16384/);
    expect(c({ max: 4 * PS, min: 4 * PS, low: 4 * PS, pinLimit: 4 * PS })).not.toThrow(); // each exactly at max
    expect(c({ max: 17 * PS })).toThrow(/exceeds the pool's capacity/);
    expect(c({ mx: PS })).toThrow(/unknown option "mx"/);
    expect(c({ label: 'a/b' })).toThrow(/contains '\/'/);
  });

  it('the top-level groups\' min may add up to the capacity, not more; a nested group\'s min is shared out of its parent\'s', () => {
    const { groups } = setup();
    const a = groups.create(groups.root, { min: 10 * PS });
    groups.create(groups.root, { min: 6 * PS }); // 16 pages: exactly the capacity
    expect(() => groups.create(groups.root, { min: PS })).toThrow(/add up to 69632 bytes, over the pool's capacity 65536/);
    const child = groups.create(a, { label: 'child', min: 12 * PS }); // overcommits a's 10: shared, not refused
    expect([child.path, groups.minFrames()]).toEqual(['group1/child', 16]);
  });
});

describe('max: a group at its max reuses its own frames', () => {
  it('no victims up to max exactly, one of its own for one page more; the root takes free frames first', () => {
    const { groups, space, fill, reclaim, owners } = setup();
    const g = groups.create(groups.root, { max: 4 * PS });
    space(1, g);
    space(2);
    fill(1, 3);
    expect(reclaim(1, 1).victims).toEqual([]); // 3 + 1 = max exactly
    expect(owners(reclaim(1, 2).victims)).toEqual([1]); // one page over
    fill(2, 12); // the root takes the rest of the pool but one
    expect(reclaim(2, 1).victims).toEqual([]);
    expect(reclaim(2, 3).victims).toHaveLength(2);
  });

  it('the group\'s own frames, even when others are older and unreferenced', () => {
    const { frames, groups, space, fill, reclaim, owners } = setup(8);
    const g = groups.create(groups.root, { max: 4 * PS });
    space(1);
    space(2, g);
    fill(1, 4); // frames 0–3: the root's
    fill(2, 4); // frames 4–7: the group's
    for (let i = 0; i < frames.frameCount; i++) frames.unreference(i);
    expect(owners(reclaim(2, 2).victims)).toEqual([2, 2]);
  });

  it('past an ancestor\'s max, within the ancestor\'s subtree: a sibling\'s frames go, the group outside is untouched', () => {
    const { frames, groups, space, fill, reclaim, owners } = setup(16);
    const P = groups.create(groups.root, { label: 'P', max: 6 * PS });
    const x = groups.create(P, { label: 'x' });
    const y = groups.create(P, { label: 'y' });
    space(1, x);
    space(2, y);
    space(3);
    fill(3, 4); // the root's, oldest
    fill(1, 4);
    fill(2, 2); // P at its max, 6 frames free in the pool
    for (let i = 0; i < frames.frameCount; i++) frames.unreference(i);
    const r = reclaim(2, 2, 2); // y's 2 resident pages in use
    expect(owners(r.victims)).toEqual([1, 1]);
    r.commit(() => undefined);
    expect(groups.usage(x)).toMatchObject({ evictedByOthers: 2, evictions: { self: 0, ancestorMax: 2, others: 0 } });
    // With one of x's pages pinned, P can give y 3 more of x's and no more: y's 2 in use and 4 new do not fit under 6.
    (groups.pool.spaces.get(1) as unknown as FakeSpace).pinnedPages = 1;
    let err: unknown;
    try {
      reclaim(2, 4, 2);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(WorkingSetTooLargeError);
    expect((err as Error).message).toMatch(/memory group "P\/y" under "P" \(the max of "P" is 24576 bytes, 24576 used in its subtree, 4096 pinned\)/);
    expect((err as WorkingSetTooLargeError).availableBytes).toBe(5 * PS);
  });
});

describe('min: protection from other groups', () => {
  it('others may take a group down to its min exactly, and not one page further', () => {
    const { frames, groups, space, fill, reclaim, owners, base } = setup(8);
    const a = groups.create(groups.root, { min: 4 * PS });
    space(1, a);
    space(2);
    fill(1, 6); // two pages above min
    fill(2, 2);
    for (let i = 0; i < frames.frameCount; i++) frames.unreference(i);
    // Everything it may: the root's own 2, and a's 2 above its min.
    const victims = reclaim(2, 4).victims;
    expect(owners(victims).filter((o) => o === 1)).toHaveLength(2);
    expect(countEvictable(frames, base)).toBe(8);
    expect(() => reclaim(2, 5)).toThrow(/other memory groups hold 16384 bytes that it may not evict \(their effective min and pins: "group1" 16384\)/);
    // The group itself may take its own frames below its min (last), and the root's.
    expect(reclaim(1, 8).victims).toHaveLength(8);
  });

  it('a protected group keeps its reference bits while it is skipped', () => {
    const { frames, groups, space, fill, reclaim } = setup(4);
    const a = groups.create(groups.root, { min: 2 * PS });
    space(1, a);
    space(2);
    fill(1, 2);
    fill(2, 2);
    reclaim(2, 1);
    expect([frames.referenced[0], frames.referenced[1]]).toEqual([1, 1]);
  });

  it('pinned pages use up min (RFC: pinned is subtracted from usage and min, then added back)', () => {
    const { groups, space, fill, pool } = setup(16);
    const a = groups.create(groups.root, { min: 4 * PS, pinLimit: 4 * PS });
    const s = space(1, a) as unknown as FakeSpace;
    fill(1, 6);
    s.pinnedPages = 3;
    // effective min = max(min − pinned, 0) + pinned = 4: 3 pinned + 1 unpinned.
    expect(groups.usage(a).protected).toBe(4 * PS);
    s.pinnedPages = 5; // more pinned than min: all pins count, nothing unpinned is protected
    expect(groups.usage(a).protected).toBe(5 * PS);
    expect(pool.pinnedPages).toBe(5);
    const u = groups.usage(a);
    expect([u.used, u.pinned, u.protected, u.free, u.effectiveMin]).toEqual([6 * PS, 5 * PS, 5 * PS, 10 * PS, 5 * PS]);
  });
});

describe('low: best effort', () => {
  it('taken only when nothing above any group\'s low (or min) can give', () => {
    const { frames, groups, space, fill, reclaim, owners } = setup(8);
    const a = groups.create(groups.root, { label: 'a', low: 4 * PS });
    const b = groups.create(groups.root, { label: 'b' });
    space(1, a);
    space(2, b);
    space(3);
    fill(1, 5);
    fill(2, 2);
    fill(3, 1);
    for (let i = 0; i < frames.frameCount; i++) frames.unreference(i);
    // Space 3 needs 3 with its own frame in use: a's 1 above low and b's 2 come first, in CLOCK order.
    expect(owners(reclaim(3, 3, 1).victims).sort()).toEqual([1, 2, 2]);
    // 5: then 2 of a's low.
    expect(owners(reclaim(3, 5, 1).victims).sort()).toEqual([1, 1, 1, 2, 2]);
  });
});

describe('pin limit', () => {
  it('a group may pin up to its pinLimit exactly; one page more is a GroupPinLimitError naming the group', () => {
    const { groups, space } = setup();
    const g = groups.create(groups.root, { label: 'latency', max: 8 * PS, min: 2 * PS });
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
    const g = groups.create(groups.root, { min: 3 * PS });
    const s1 = space(1, g);
    const s2 = space(2, g);
    (s1 as unknown as FakeSpace).pinnedPages = 2;
    expect(() => groups.checkPin(s2, 1)).not.toThrow();
    expect(() => groups.checkPin(s2, 2)).toThrow(GroupPinLimitError);
  });

  it('every group up to the root must allow the pin: the ancestor that refuses is named', () => {
    const { groups, space } = setup();
    const t = groups.create(groups.root, { label: 'T', min: 2 * PS });
    const l = groups.create(t, { label: 'L', min: 4 * PS });
    const s = space(1, l);
    expect(() => groups.checkPin(s, 2)).not.toThrow();
    expect(() => groups.checkPin(s, 3)).toThrow(/in memory group "T\/L" would make 12288 pinned bytes under its ancestor "T", over that group's pin limit of 8192 bytes/);
  });
});

describe('what fits', () => {
  it('a working set of max pages fits a group; max + 1 is refused naming the group', () => {
    const { groups, space } = setup();
    const g = groups.create(groups.root, { label: 'capped', max: 4 * PS });
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

  it('an ancestor\'s max binds its whole subtree: named as the limit', () => {
    const { groups, space, fill } = setup();
    const p = groups.create(groups.root, { label: 'p', max: 6 * PS });
    const a = groups.create(p, { label: 'a', max: 5 * PS });
    const b = groups.create(p, { label: 'b', min: 2 * PS });
    const s = space(1, a);
    space(2, b);
    fill(2, 3);
    // p: 6 − b's 2 protected (its min within p; relative to p, as the reclaim is) = 4 < a's own 5.
    const { available, group } = groups.availableFrames(s, new Uint32Array(5).map((_, i) => i));
    expect([available, group?.path]).toEqual([4, 'p']);
    expect(() => groups.checkFits(s, new Uint32Array(5).map((_, i) => i))).toThrow(/under "p" \(the max of "p" is 24576 bytes.*held by protection and pins \("p\/b" 8192\)/);
  });

  it('other groups\' protection and pins shrink what a space can have', () => {
    const { groups, space, fill } = setup(16);
    const a = groups.create(groups.root, { min: 6 * PS });
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

describe('eviction counts per group, and the budget tree', () => {
  it('counts pages evicted by the group itself and by others, once the victims are committed', () => {
    const { groups, space, fill, reclaim, owners } = setup(8);
    const a = groups.create(groups.root, { max: 4 * PS });
    space(1, a);
    space(2);
    fill(1, 4);
    fill(2, 4);
    const own = reclaim(1, 1);
    expect(owners(own.victims)).toEqual([1]);
    expect(a.usage().evictedBySelf).toBe(0); // chosen, not yet committed
    own.commit(() => undefined);
    const theirs = reclaim(2, 2, 4); // the root's own 4 in use: a's frames go
    expect(owners(theirs.victims)).toEqual([1, 1]);
    let during: unknown;
    theirs.commit(() => (during = groups.evictionLimit()));
    expect(during).toBeUndefined(); // the pool's capacity made it, not a group's max
    expect(groups.usage(a)).toMatchObject({ evictedBySelf: 1, evictedByOthers: 2, evictions: { self: 1, ancestorMax: 0, others: 2 } });
    let limit: unknown;
    reclaim(1, 1).commit(() => (limit = groups.evictionLimit()));
    expect(limit).toMatchObject({ key: a, label: 'group1', maxFrames: 4, usedFrames: 4 });
    expect(groups.evictionLimit()).toBeUndefined();
  });

  it('the budget tree: subtree usage, own spaces, pins, effective protection; perGroup\'s root entry counts its own spaces', () => {
    const { groups, space, fill } = setup(16);
    const t = groups.create(groups.root, { label: 't', min: 8 * PS, low: 8 * PS });
    const x = groups.create(t, { label: 'x', pinLimit: 2 * PS });
    space(1, x);
    space(2, t);
    space(3);
    fill(1, 6);
    fill(2, 2);
    fill(3, 3);
    (groups.pool.spaces.get(1) as unknown as FakeSpace).pinnedPages = 2;
    const b = groups.budget();
    expect(b).toMatchObject({ path: 'root', used: 11 * PS, own: 3 * PS, pinned: 2 * PS, spaces: 1 });
    expect(b.children[0]).toMatchObject({ path: 't', used: 8 * PS, own: 2 * PS, pinned: 2 * PS, effectiveMin: 8 * PS, effectiveLow: 8 * PS, spaces: 1 });
    // x shares t's 8 with t's own pages by unprotected usage (recursive protection): its pins added back.
    expect(b.children[0]!.children[0]).toMatchObject({ path: 't/x', used: 6 * PS, pinned: 2 * PS, pinLimit: 2 * PS });
    expect(b.children[0]!.children[0]!.effectiveMin).toBeGreaterThanOrEqual(2 * PS);
    expect(groups.list().map((g) => [g.path, groups.usage(g).used])).toEqual([['root', 3 * PS], ['t', 8 * PS], ['t/x', 6 * PS]]);
    expect(groups.pressureGroups().map((g) => [g.label, g.usedFrames, g.maxFrames])).toEqual([['t', 8, 16], ['t/x', 6, 16]]);
  });
});

describe('limits in force once the pool is smaller (an out-of-memory shrink, or recover() onto a smaller device)', () => {
  it('max and pin limit are cut to the capacity now, the root\'s pin limit is the pool\'s; the mins stay as promised', () => {
    const { groups, space, pool } = setup(16, 8 * PS);
    const a = groups.create(groups.root, { label: 'a', max: 12 * PS, min: 2 * PS, pinLimit: 10 * PS });
    const b = groups.create(groups.root, { label: 'b', max: 4 * PS, min: 2 * PS });
    const s = space(1, a);
    expect([groups.maxFrames(a), groups.pinFrames(a), groups.minFrames()]).toEqual([12, 10, 4]);
    // The pool keeps 8 of its 16 frames (buffer-alloc.ts cuts its pinLimit to the capacity too).
    Object.assign(pool, { frameCount: 8, capacity: 8 * PS, pinLimit: 8 * PS });
    expect([groups.maxFrames(a), groups.pinFrames(a), groups.maxFrames(b), groups.pinFrames(b), groups.maxFrames(groups.root)]).toEqual([8, 8, 4, 2, 8]);
    expect(groups.usage(a)).toMatchObject({ max: 8 * PS, min: 2 * PS, pinLimit: 8 * PS, free: 8 * PS });
    expect(a.max).toBe(12 * PS); // as created
    expect(groups.tree.capacity).toBe(8);
    // At its max in force the group reuses its own frames; it may hold no more than that.
    expect(groups.availableFrames(s, new Uint32Array(12).map((_, i) => i)).available).toBe(8);
    Object.assign(pool, { pinLimit: 4 * PS });
    expect(groups.usage(groups.root).pinLimit).toBe(4 * PS);
    // A pin limit cut to the max in force: the group's error names it.
    (s as unknown as FakeSpace).pinnedPages = 8;
    expect(() => groups.checkPin(s, 1)).toThrow(GroupPinLimitError);
    expect(() => groups.checkPin(s, 1)).toThrow(/over its pin limit of 32768 bytes/);
  });
});
