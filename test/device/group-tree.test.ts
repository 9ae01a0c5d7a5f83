// The memory-group tree without a GPU, after the kernel's own semantics:
// effective_protection() of mm/page_counter.c, the hierarchies of the cgroup
// selftests (tools/testing/selftests/cgroup/test_memcontrol.c: test_memcg_min,
// test_memcg_low), the "Reclaim Protection" example of
// Documentation/admin-guide/cgroup-v2.rst, the pinning RFC's walk to the root,
// and dmem's eviction order (unprotected first, low only when that is not
// enough, min never for another group). Frames are MiB-sized in the kernel
// examples: 50 frames stand for 50M.
//
// A small "world" drives the plan the way the pool will: a real frame table,
// CLOCK through chooseVictimsInTiers with one query per group tier, charges
// moved as frames change owner — so the classifier is tested with eviction.ts.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InternalError } from '../../src/assert.ts';
import { chooseVictimsInTiers, type VictimQuery } from '../../src/device/eviction.ts';
import { FrameTable } from '../../src/device/frames.ts';
import {
  createGroupTree, effectiveProtection, type GroupNode, type GroupSnapshot, type GroupTree, type ReclaimPlan, type ReclaimTier,
} from '../../src/device/group-tree.ts';
import { GroupPinLimitError, InvalidArgumentError, PinLimitError, PoolMismatchError, WorkingSetTooLargeError } from '../../src/errors.ts';

const PS = 4096;

/** Members (space ids) on a frame table, faulting in through a reclaim plan as migrate.ts will. */
function world(capacity: number, pinLimit = capacity) {
  const tree = createGroupTree({ capacity, pinLimit, pageSize: PS, checks: true });
  const frames = new FrameTable(capacity, capacity);
  const nextPage = new Map<number, number>();
  const pinnedPages = new Map<number, Set<number>>();
  const join = (member: number, node: GroupNode) => {
    tree.attach(member, node);
    nextPage.set(member, 0);
    pinnedPages.set(member, new Set());
  };
  const check = () => {
    frames.checkInvariants();
    tree.checkInvariants({ charged: (m) => frames.ownedCount(m), pinned: (m) => pinnedPages.get(m)?.size ?? 0 });
  };
  /** Give `member` `n` new pages on the device, evicting by the plan; returns the plan (committed). */
  const fault = (member: number, n: number, locked?: ReadonlyMap<number, number>): ReclaimPlan => {
    const plan = tree.planReclaim(member, n, locked ? { locked } : {});
    const blocked = plan.blocked();
    if (blocked) throw plan.tooLarge(blocked, n, plan.available(blocked));
    const victims: number[] = [];
    const chosen = new Uint8Array(frames.frameCount);
    for (const stage of plan.stages) {
      const want = plan.remaining(stage);
      if (want === 0) continue;
      const base: VictimQuery = {
        evictable: (s, p) => !pinnedPages.get(s)!.has(p) && !(locked?.has(s) ?? false),
        dirty: () => false,
      };
      const q = (t: ReclaimTier): VictimQuery => ({ ...base, eligible: (s) => plan.mayTake(stage, s, t), took: (s) => plan.take(stage, s) });
      const got = chooseVictimsInTiers(frames, want, [q(0), q(1), q(2)], chosen);
      expect(got.length, `stage "${stage.limit.path}" gave ${got.length} of ${want}`).toBe(want);
      victims.push(...got);
    }
    plan.commit();
    let page = nextPage.get(member)!;
    for (const f of victims) {
      tree.uncharge(frames.owner[f]!, 1);
      frames.reassign(f, member, page++);
    }
    let rest = n - victims.length;
    while (rest > 0) {
      const [, got] = frames.takeRun(rest, member, page);
      expect(got).toBeGreaterThan(0);
      page += got;
      rest -= got;
    }
    tree.charge(member, n);
    nextPage.set(member, page);
    check();
    return plan;
  };
  /** Drop every frame of `member` (a free()). */
  const drop = (member: number) => {
    let n = 0;
    for (let f = 0; f < frames.frameCount; f++) {
      if (frames.owner[f] === member) {
        frames.release(f);
        n++;
      }
    }
    tree.uncharge(member, n);
    check();
  };
  /** Pin `n` of `member`'s resident pages. */
  const pin = (member: number, n: number) => {
    tree.pin(member, n);
    const set = pinnedPages.get(member)!;
    for (let f = 0; f < frames.frameCount && n > 0; f++) {
      if (frames.owner[f] === member && !set.has(frames.page[f]!)) {
        set.add(frames.page[f]!);
        n--;
      }
    }
    expect(n).toBe(0);
    check();
  };
  const held = (member: number) => frames.ownedCount(member);
  return { tree, frames, join, fault, drop, pin, held, check };
}

function flatten(s: GroupSnapshot): GroupSnapshot[] {
  return [s, ...s.children.flatMap(flatten)];
}

describe('effectiveProtection (mm/page_counter.c)', () => {
  it('overcommitted: the parent\'s effective protection is shared in proportion to protected usage', () => {
    // Parent effective 100; children claim 80 and 60, and use it all: 140 > 100.
    expect(effectiveProtection(80, 140, 80, 100, 140, true)).toBe(57);
    expect(effectiveProtection(60, 140, 60, 100, 140, true)).toBe(42);
  });

  it('work-conserving: claimed but unused protection goes to the siblings', () => {
    // A claims 80 but uses 20: siblings_protected = 20 + 60 = 80 ≤ 100, so each keeps what it uses and claims.
    expect(effectiveProtection(20, 80, 80, 100, 80, false)).toBe(20);
    expect(effectiveProtection(60, 80, 60, 100, 80, false)).toBe(60);
  });

  it('undercommitted: capped by its own setting; recursive protection shares the floating rest by unprotected usage', () => {
    // Parent effective 100, usage 100: C1 claims 30 of its 50, C2 claims nothing of its 50.
    expect(effectiveProtection(50, 100, 30, 100, 30, false)).toBe(30);
    expect(effectiveProtection(50, 100, 0, 100, 30, false)).toBe(0);
    // memory_recursiveprot (always on in dmem): the unclaimed 70 by unprotected usage, 20 : 50.
    expect(effectiveProtection(50, 100, 30, 100, 30, true)).toBe(30 + Math.floor((70 * 20) / 70));
    expect(effectiveProtection(50, 100, 0, 100, 30, true)).toBe(Math.floor((70 * 50) / 70));
  });
});

describe('effective protection in the tree', () => {
  /** The selftest hierarchy: A max 200M; A/B min 50M; C, D, E, F under B. */
  function selftest(kind: 'min' | 'low') {
    const w = world(1000);
    const { tree } = w;
    const A = tree.create(tree.root, { label: 'A', max: 200 });
    const B = tree.create(A, { label: 'B', [kind]: 50 });
    const C = tree.create(B, { label: 'C', [kind]: 75 });
    const D = tree.create(B, { label: 'D', [kind]: 25 });
    const E = tree.create(B, { label: 'E', [kind]: 0 });
    const F = tree.create(B, { label: 'F', [kind]: 500 });
    const G = tree.create(A, { label: 'G' });
    w.join(1, C);
    w.join(2, D);
    w.join(3, E);
    w.join(4, F);
    w.join(5, G);
    for (const m of [1, 2, 3]) w.fault(m, 50);
    return { ...w, A, B, C, D, E, F, G };
  }

  it('test_memcg_min: relative to A (pressure in A), B keeps 50M, shared 33/16 between C and D by protected usage', () => {
    const { tree, A, B, C, D, E, F } = selftest('min');
    const p = tree.protection(A);
    expect([p.min(B), p.min(C), p.min(D), p.min(E), p.min(F)]).toEqual([50, 33, 16, 0, 0]);
    // Relative to the root, A claims nothing, so nothing below it is protected from the rest of the pool.
    const r = tree.protection();
    expect([r.min(A), r.min(B), r.min(C), r.min(D)]).toEqual([0, 0, 0, 0]);
  });

  it('test_memcg_min: G takes 148M under A\'s 200M; B ends at 52M, never under its effective min; 170M then fails naming A', () => {
    const w = selftest('min');
    const { tree, A, B, C, D } = w;
    // New memory while G's is in use (its resident frames locked, as migrate locks a working set).
    for (let i = 0; i < 148; i++) w.fault(5, 1, new Map([[5, w.held(5)]]));
    expect([tree.usage(A), tree.usage(B), w.held(5)]).toEqual([200, 52, 148]);
    const p = tree.protection(A);
    expect(w.held(1)).toBeGreaterThanOrEqual(p.min(C));
    expect(w.held(2)).toBeGreaterThanOrEqual(p.min(D));
    // Every eviction was for another group under A's max.
    const ev = [1, 2, 3].map((m) => tree.evictions(tree.nodeOf(m)));
    expect(ev.reduce((x, e) => x + e.ancestorMax, 0)).toBe(98);
    expect(ev.every((e) => e.self === 0 && e.others === 0)).toBe(true);
    // The selftest's second step: G (freed) asks for 170M at once; B's 50M are hard-protected.
    w.drop(5);
    const before = tree.snapshot();
    let err: unknown;
    try {
      w.fault(5, 170);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(WorkingSetTooLargeError);
    const msg = (err as Error).message;
    expect(msg).toContain('memory group "A/G" under "A"');
    expect(msg).toContain(`the max of "A" is ${200 * PS} bytes`);
    expect(msg).toMatch(/held by protection \("A\/B\/[CDE]"/);
    expect((err as WorkingSetTooLargeError).availableBytes).toBe((200 - 50) * PS);
    expect(tree.snapshot()).toEqual(before); // planning changed nothing
  });

  it('test_memcg_low: low holds while the unprotected can give; past that it yields (best effort), min never', () => {
    const w = selftest('low');
    const { tree, A, B } = w;
    for (let i = 0; i < 148; i++) w.fault(5, 1, new Map([[5, w.held(5)]]));
    expect(tree.usage(B)).toBe(52);
    w.drop(5);
    w.fault(5, 170); // low is best effort: taken, once nothing unprotected is left under A
    expect([tree.usage(A), tree.usage(B)]).toEqual([200, 30]);
  });

  it('cgroup-v2.rst "Reclaim Protection": B\'s protection applies unchanged against its sibling E, capped by A\'s against the rest', () => {
    //   root - A - B - C
    //            |   \ D
    //            \ E           and Z beside A
    const w = world(100);
    const { tree } = w;
    const A = tree.create(tree.root, { label: 'A', max: 90, min: 10 });
    const B = tree.create(A, { label: 'B', min: 40 });
    const C = tree.create(B, { label: 'C' });
    const D = tree.create(B, { label: 'D' });
    const E = tree.create(A, { label: 'E' });
    const Z = tree.create(tree.root, { label: 'Z' });
    w.join(1, C);
    w.join(2, D);
    w.join(3, E);
    w.join(4, Z);
    for (const m of [1, 2, 3]) w.fault(m, 30);
    const inA = tree.protection(A);
    expect([inA.min(B), inA.min(C), inA.min(D), inA.min(E)]).toEqual([40, 20, 20, 0]); // B's floating 40 shared by usage
    const inRoot = tree.protection();
    expect([inRoot.min(A), inRoot.min(B), inRoot.min(C), inRoot.min(D), inRoot.min(E)]).toEqual([10, 10, 5, 5, 0]);
    // The plan sees the same: E's fault-ins under A's max may take 20 from B's subtree (and E's own 30);
    // Z's under the pool, 80 of A's 90.
    const fromE = tree.planReclaim(3, 10);
    expect(fromE.stages.map((s) => s.limit.path)).toEqual(['A']);
    expect(fromE.reclaimable(fromE.stages[0]!)).toBe(30 + 20);
    const fromZ = tree.planReclaim(4, 15);
    expect(fromZ.stages.map((s) => [s.limit.path, s.over])).toEqual([['root', 5]]);
    expect(fromZ.reclaimable(fromZ.stages[0]!)).toBe(80);
    const byNode = new Map(fromE.classify(fromE.stages[0]!).map((c) => [c.node.path, c]));
    expect(byNode.get('A/B/C')).toMatchObject({ kin: false, tier: 0, tier0: 10, tier1: 0, tier2: 0, held: 20 });
    expect(byNode.get('A/E')).toMatchObject({ kin: true, tier: 0, tier0: 30, held: 0 });
  });

  it('siblings share an overcommitted parent\'s protection by protected usage, and never more than it in all', () => {
    const w = world(400);
    const { tree } = w;
    const P = tree.create(tree.root, { label: 'P', min: 100 });
    const C1 = tree.create(P, { label: 'C1', min: 80 });
    const C2 = tree.create(P, { label: 'C2', min: 60 });
    w.join(1, C1);
    w.join(2, C2);
    w.fault(1, 80);
    w.fault(2, 60);
    const p = tree.protection();
    expect([p.min(P), p.min(C1), p.min(C2)]).toEqual([100, 57, 42]);
    // C1 shrinks to 20 (it frees 60): it claims 20 now, and C2 keeps all 60 (work-conserving).
    w.drop(1);
    w.fault(1, 20);
    const q = tree.protection();
    expect([q.min(C1), q.min(C2)]).toEqual([20, 60]);
  });

  it('floor division: three shares of 10 come to 9, and one request still never takes the parent under its 10', () => {
    const w = world(100);
    const { tree } = w;
    const P = tree.create(tree.root, { label: 'P', min: 10 });
    const kids = [1, 2, 3].map((i) => tree.create(P, { label: `c${i}`, min: 10 }));
    const Z = tree.create(tree.root, { label: 'Z' });
    kids.forEach((k, i) => w.join(i + 1, k));
    w.join(4, Z);
    for (const m of [1, 2, 3]) w.fault(m, 10);
    w.fault(4, 70);
    const p = tree.protection();
    expect(kids.map((k) => p.min(k))).toEqual([3, 3, 3]); // 10·10/30 each, floored
    const plan = tree.planReclaim(4, 25, { locked: new Map([[4, 70]]) });
    expect(plan.reclaimable(plan.stages[0]!)).toBe(20); // not 21: P's own floor binds the three together
    expect(plan.classify(plan.stages[0]!).map((c) => c.tier0)).toEqual([7, 7, 7, 0]);
    // Asked frame by frame (as CLOCK asks), the plan stops at 20: after 7, 7 and 6, P is at its floor.
    const stage = plan.stages[0]!;
    let took = 0;
    for (let again = true; again; ) {
      again = false;
      for (const m of [1, 2, 3]) {
        if (plan.mayTake(stage, m, 1)) {
          plan.take(stage, m);
          took++;
          again = true;
        }
      }
    }
    expect(took).toBe(20);
    expect(plan.remaining(stage)).toBe(5);
    expect(() => w.fault(4, 25, new Map([[4, 70]]))).toThrow(WorkingSetTooLargeError);
    w.fault(4, 20, new Map([[4, 70]]));
    expect(tree.usage(P)).toBe(10);
  });

  it('a deep chain carries the top claim down, a min of 0 in between included (recursive protection, as dmem)', () => {
    const w = world(400);
    const { tree } = w;
    const a = tree.create(tree.root, { label: 'a', min: 50 });
    const b = tree.create(a, { label: 'b', min: 0 });
    const c = tree.create(b, { label: 'c', min: 30 });
    const d1 = tree.create(c, { label: 'd1' });
    const d2 = tree.create(c, { label: 'd2' });
    const z = tree.create(tree.root, { label: 'z' });
    w.join(1, d1);
    w.join(2, d2);
    w.join(3, z);
    w.fault(1, 60);
    w.fault(2, 20);
    const p = tree.protection();
    expect([p.min(a), p.min(b), p.min(c)]).toEqual([50, 50, 50]);
    expect([p.min(d1), p.min(d2)]).toEqual([37, 12]); // c's 50 by usage 60 : 20
    expect(d1.path).toBe('a/b/c/d1');
    expect(d1.depth).toBe(4);
    // z fills the pool: the chain gives 30 (80 − 50), no more; a request that needs more fails naming the chain.
    w.fault(3, 320);
    w.fault(3, 25, new Map([[3, 320]]));
    expect(tree.usage(a)).toBe(55);
    expect(() => w.fault(3, 10, new Map([[3, 345]]))).toThrow(/other memory groups hold .*"a\/b\/c\/d1"/);
    expect(tree.usage(a)).toBe(55);
  });

  it('pinned frames are subtracted before and added back after: pinning in one child uses up its siblings\' share', () => {
    const w = world(400);
    const { tree } = w;
    const P = tree.create(tree.root, { label: 'P', min: 40 });
    const C1 = tree.create(P, { label: 'C1', min: 40 });
    const C2 = tree.create(P, { label: 'C2', min: 40 });
    w.join(1, C1);
    w.join(2, C2);
    w.fault(1, 40);
    w.fault(2, 40);
    const before = tree.protection();
    expect([before.min(P), before.min(C1), before.min(C2)]).toEqual([40, 20, 20]);
    w.pin(1, 20);
    const after = tree.protection();
    // Unpinned: P 20 of 60, C1 claims 20 of 20, C2 40 of 40 → 20·20/60 = 6 and 40·20/60 = 13; pins added back.
    expect([after.min(P), after.min(C1), after.min(C2)]).toEqual([40, 26, 13]);
    expect(tree.snapshot().children[0]!.children.map((s) => [s.path, s.pinned, s.effectiveMin])).toEqual([['P/C1', 20, 26], ['P/C2', 0, 13]]);
  });
});

describe('charging and limits', () => {
  it('tryCharge fails at the first group up the walk whose max would pass, changing nothing', () => {
    const tree = createGroupTree({ capacity: 100, checks: true });
    const P = tree.create(tree.root, { label: 'P', max: 10 });
    const C = tree.create(P, { label: 'C', max: 20 });
    const C5 = tree.create(P, { label: 'C5', max: 5 });
    tree.attach(1, C);
    tree.attach(2, C5);
    const before = tree.snapshot();
    expect(tree.tryCharge(1, 15)).toMatchObject({ node: P, usage: 0, max: 10, over: 5 });
    expect(tree.tryCharge(2, 6)).toMatchObject({ node: C5, usage: 0, max: 5, over: 1 });
    expect(tree.snapshot()).toEqual(before);
    expect(tree.tryCharge(1, 10)).toBeUndefined();
    expect([tree.usage(C), tree.usage(P), tree.usage(tree.root)]).toEqual([10, 10, 10]);
    expect(tree.room(C5)).toEqual({ frames: 0, limit: P });
    expect(() => tree.charge(2, 1)).toThrow(InternalError);
  });

  it('sync sets a member to counts kept elsewhere, up to the root, and refuses counts that break a max', () => {
    const tree = createGroupTree({ capacity: 32, checks: true });
    const P = tree.create(tree.root, { label: 'P', max: 10, min: 4 });
    const C = tree.create(P, { label: 'C', min: 4 });
    tree.attach(1, C);
    tree.sync(1, 8, 3);
    expect([tree.usage(C), tree.usage(P), tree.usage(tree.root), tree.pinned(P), tree.charged(1), tree.pinnedOf(1)]).toEqual([8, 8, 8, 3, 8, 3]);
    tree.sync(1, 2, 0);
    expect([tree.usage(P), tree.pinned(tree.root)]).toEqual([2, 0]);
    expect(() => tree.sync(1, 11, 0)).toThrow(InternalError);
  });

  it('the root is the pool: its max is the capacity', () => {
    const tree = createGroupTree({ capacity: 8 });
    tree.attach(1, tree.root);
    expect(tree.tryCharge(1, 9)).toMatchObject({ node: tree.root, max: 8, over: 1 });
    tree.charge(1, 8);
    const plan = tree.planReclaim(1, 3);
    expect(plan.stages.map((s) => [s.limit.isRoot, s.over])).toEqual([[true, 3]]);
  });

  it('createGroup refuses limits that cannot hold, in bytes; nested groups may overcommit their parent\'s min', () => {
    const tree = createGroupTree({ capacity: 16, pageSize: PS });
    const e = (f: () => unknown) => expect(f).toThrow(InvalidArgumentError);
    e(() => tree.create(tree.root, { max: 0 }));
    e(() => tree.create(tree.root, { max: 17 }));
    e(() => tree.create(tree.root, { max: 4, min: 5 }));
    e(() => tree.create(tree.root, { max: 4, low: 5 }));
    e(() => tree.create(tree.root, { max: 4, pinLimit: 5 }));
    e(() => tree.create(tree.root, { min: 1.5 }));
    const a = tree.create(tree.root, { label: 'a', min: 10 });
    expect(() => tree.create(tree.root, { label: 'b', min: 7 })).toThrow(`the top-level groups' min would add up to ${17 * PS} bytes`);
    const kids = [tree.create(a, { min: 10 }), tree.create(a, { min: 10 })];
    expect(tree.committedMin()).toBe(10);
    expect(kids.map((k) => [k.label, k.path, k.pinLimit])).toEqual([['group2', 'a/group2', 10], ['group3', 'a/group3', 10]]);
    const other = createGroupTree({ capacity: 16 });
    expect(() => tree.create(other.root)).toThrow(PoolMismatchError);
    expect(() => tree.attach(1, other.root)).toThrow(PoolMismatchError);
  });

  it('remove: only an empty leaf; afterwards it cannot be used', () => {
    const tree = createGroupTree({ capacity: 16, checks: true });
    const a = tree.create(tree.root, { label: 'a' });
    const b = tree.create(a, { label: 'b' });
    tree.attach(1, b);
    expect(() => tree.remove(a)).toThrow(/child groups/);
    expect(() => tree.remove(b)).toThrow(/spaces still belong/);
    tree.charge(1, 3);
    tree.pin(1, 0);
    expect(tree.detach(1)).toEqual({ charged: 3, pinned: 0 });
    expect(tree.usage(a)).toBe(0);
    tree.remove(b);
    expect(b.removed).toBe(true);
    expect(a.children).toEqual([]);
    expect(() => tree.create(b)).toThrow(/was removed/);
    expect(tree.nodes().map((n) => n.path)).toEqual(['root', 'a']);
  });
});

describe('pinning after the RFC: every group up to the root', () => {
  function pins() {
    const tree = createGroupTree({ capacity: 200, pinLimit: 25, pageSize: PS, checks: true });
    const T = tree.create(tree.root, { label: 'T', min: 20 });
    const L = tree.create(T, { label: 'L', min: 50 });
    const L0 = tree.create(T, { label: 'L0' }); // min 0: no pins (the RFC's default)
    tree.attach(1, L);
    tree.attach(2, L0);
    tree.attach(3, tree.root);
    tree.charge(1, 60);
    tree.charge(2, 10);
    tree.charge(3, 10);
    return { tree, T, L, L0 };
  }

  it('refused at the right level, naming that group, its limit and the numbers, with nothing changed', () => {
    const { tree, T, L } = pins();
    const before = tree.snapshot();
    const err = tree.checkPin(1, 30);
    expect(err).toBeInstanceOf(GroupPinLimitError);
    expect(err).toMatchObject({ group: 'T', pinningGroup: 'T/L', requested: 30 * PS, pinned: 0, limit: 20 * PS, code: 'PIN_LIMIT' });
    expect(err!.message).toContain('under its ancestor "T"');
    expect(() => tree.pin(1, 30)).toThrow(GroupPinLimitError);
    expect(tree.snapshot()).toEqual(before);
    tree.pin(1, 20);
    expect([tree.pinned(L), tree.pinned(T), tree.pinned(tree.root)]).toEqual([20, 20, 20]);
    expect(tree.checkPin(1, 1)).toMatchObject({ group: 'T', pinned: 20 * PS, limit: 20 * PS });
  });

  it('the leaf first: a group with min 0 pins nothing; the root\'s limit is the pool\'s (a PinLimitError, not a group\'s)', () => {
    const { tree } = pins();
    const leaf = tree.checkPin(2, 1);
    expect(leaf).toBeInstanceOf(GroupPinLimitError);
    expect(leaf).toMatchObject({ group: 'T/L0', pinningGroup: undefined, limit: 0 });
    tree.pin(1, 20);
    const pool = tree.checkPin(3, 6);
    expect(pool).toBeInstanceOf(PinLimitError);
    expect(pool).not.toBeInstanceOf(GroupPinLimitError);
    expect(pool).toMatchObject({ requested: 6 * PS, pinned: 20 * PS, limit: 25 * PS });
    tree.pin(3, 5);
    tree.unpin(1, 20);
    expect(tree.pinned(tree.root)).toBe(5);
    expect(() => tree.unpin(1, 1)).toThrow(InternalError);
  });

  it('an explicit pinLimit replaces min as the bound, at most max', () => {
    const tree = createGroupTree({ capacity: 100, checks: true });
    const g = tree.create(tree.root, { label: 'g', min: 5, pinLimit: 30, max: 40 });
    tree.attach(1, g);
    tree.charge(1, 40);
    tree.pin(1, 30);
    expect(tree.checkPin(1, 1)).toMatchObject({ group: 'g', limit: 30 });
    // Pinned frames count in protection: min 5, pinned 30 → effective min max(5 − 30, 0) + 30.
    expect(tree.protection().min(g)).toBe(30);
  });
});

describe('reclaim order: low, then min, never min for another group', () => {
  function lowWorld(aMin = 0) {
    const w = world(100);
    const a = w.tree.create(w.tree.root, { label: 'a', low: 50, min: aMin });
    const b = w.tree.create(w.tree.root, { label: 'b' });
    const c = w.tree.create(w.tree.root, { label: 'c' });
    w.join(1, a);
    w.join(2, b);
    w.join(3, c);
    w.fault(1, 60);
    w.fault(2, 40);
    return { ...w, a, b, c };
  }

  it('low is honoured only while something else can be reclaimed', () => {
    const w = lowWorld();
    const plan = w.fault(3, 30);
    expect(w.held(1)).toBeGreaterThanOrEqual(50); // tier 0 (a's 10 over low, b's 40) was enough
    expect(plan.taken()).toEqual({ self: 0, ancestorMax: 0, others: 30 });
    w.fault(3, 40, new Map([[3, 30]])); // now tier 0 has 20 (c's own 30 are in use): the other 20 come from a's low
    expect([w.held(1), w.held(2), w.held(3)]).toEqual([30, 0, 70]);
    expect(w.tree.evictions(w.a).others + w.tree.evictions(w.b).others).toBe(70);
  });

  it('min is never taken for another group: a working set that cannot fit fails, naming the group', () => {
    const w = lowWorld(45);
    w.fault(3, 30);
    const before = w.tree.snapshot();
    const inUse = new Map([[3, 30]]);
    const plan = w.tree.planReclaim(3, 40, { locked: inUse });
    const stage = plan.stages[0]!;
    expect([plan.reclaimable(stage, 0), plan.reclaimable(stage, 1), plan.reclaimable(stage)]).toEqual([20, 25, 25]);
    expect(plan.blocked()).toBe(stage);
    expect(() => w.fault(3, 40, inUse)).toThrow(/other memory groups hold \d+ bytes .*"a" \d+/);
    expect(w.tree.snapshot()).toEqual(before);
  });

  it('a group\'s own protected frames are its last resort, not refused (tier 2, cause self)', () => {
    const w = world(100);
    const a = w.tree.create(w.tree.root, { label: 'a', min: 60 });
    const b = w.tree.create(w.tree.root, { label: 'b', min: 40 });
    w.join(1, a);
    w.join(2, b);
    w.fault(1, 60);
    w.fault(2, 40);
    const plan = w.tree.planReclaim(1, 10);
    const stage = plan.stages[0]!;
    expect(plan.tierOf(stage, 1)).toBe(2);
    expect(plan.tierOf(stage, 2)).toBeUndefined();
    expect(plan.classify(stage).map((c) => [c.node.path, c.tier, c.tier2, c.held])).toEqual([['a', 2, 60, 0], ['b', undefined, 0, 40]]);
    w.fault(1, 10);
    expect([w.held(1), w.held(2)]).toEqual([70 - 10, 40]);
    expect(w.tree.evictions(a)).toEqual({ self: 10, ancestorMax: 0, others: 0 });
    expect(w.tree.evictions(b)).toEqual({ self: 0, ancestorMax: 0, others: 0 });
  });

  it('max caps a subtree: the request reclaims within it first (cause ancestorMax), its own max with its own frames (self)', () => {
    const w = world(100);
    const P = w.tree.create(w.tree.root, { label: 'P', max: 50 });
    const X = w.tree.create(P, { label: 'X' });
    const Y = w.tree.create(P, { label: 'Y', max: 20 });
    const Q = w.tree.create(w.tree.root, { label: 'Q' });
    w.join(1, X);
    w.join(2, Y);
    w.join(3, Q);
    w.fault(1, 30);
    w.fault(2, 20);
    w.fault(3, 10); // pool has 40 free: the caps bind, not the pool
    // Y's working set of 10 more (its 20 resident pages locked): Y's own max binds first, then P's.
    expect(() => w.fault(2, 10, new Map([[2, 20]]))).toThrow(/in memory group "P\/Y" \(the max of "P\/Y" is/);
    w.drop(2);
    w.fault(2, 15);
    w.fault(1, 5); // P full again (35 + 15), Y under its own max
    const plan = w.fault(2, 5, new Map([[2, 15]]));
    expect(plan.stages.map((s) => [s.limit.path, s.over])).toEqual([['P', 5]]);
    expect(plan.taken()).toEqual({ self: 0, ancestorMax: 5, others: 0 });
    expect(w.tree.evictions(X).ancestorMax).toBe(5);
    expect([w.held(1), w.held(2), w.held(3)]).toEqual([30, 20, 10]); // Q, outside P, untouched
    const own = w.fault(2, 5); // Y at its max of 20: its own frames, which also make the room P needs
    expect(own.stages.map((s) => [s.limit.path, own.remaining(s)])).toEqual([['P/Y', 0], ['P', 0]]);
    expect(own.taken()).toEqual({ self: 5, ancestorMax: 0, others: 0 });
    expect(w.tree.evictions(Y).self).toBe(5);
  });
});

describe('visible, and device loss', () => {
  it('snapshot gives the tree with limits in force, usage, pins, effective values and evictions', () => {
    const w = world(64);
    const a = w.tree.create(w.tree.root, { label: 'a', min: 8, low: 16, max: 32 });
    const b = w.tree.create(a, { label: 'b', pinLimit: 8 });
    w.join(1, b);
    w.join(2, w.tree.root);
    w.fault(1, 20);
    w.pin(1, 4);
    const s = w.tree.snapshot();
    expect(s).toMatchObject({ path: 'root', depth: 0, max: 64, pinLimit: 64, usage: 20, pinned: 4, members: 1 });
    expect(s.children[0]).toMatchObject({ path: 'a', max: 32, min: 8, low: 16, pinLimit: 8, usage: 20, own: 0, pinned: 4, effectiveMin: 8, effectiveLow: 16 });
    expect(s.children[0]!.children[0]).toMatchObject({ path: 'a/b', members: 1, usage: 20, own: 20, effectiveMin: 8, effectiveLow: 16, evictions: { self: 0, ancestorMax: 0, others: 0 } });
    expect(flatten(s).map((n) => n.path)).toEqual(['root', 'a', 'a/b']);
  });

  it('after device loss the tree stays: limits, members, pins and counts; charges go to zero and come back', () => {
    const w = world(64, 16);
    const { tree } = w;
    const a = tree.create(tree.root, { label: 'a', min: 8 });
    const b = tree.create(a, { label: 'b', min: 8 });
    w.join(1, b);
    w.join(2, tree.root);
    w.fault(1, 20);
    w.fault(2, 44);
    w.pin(1, 6);
    w.fault(2, 4, new Map([[2, 44]])); // evicts from b above its min (the root space's frames in use)
    const before = tree.snapshot();
    tree.resetCharges(); // the device is lost: every frame with it
    const lost = tree.snapshot();
    expect(flatten(lost).map((n) => [n.path, n.usage, n.pinned, n.evictions])).toEqual(flatten(before).map((n) => [n.path, 0, n.pinned, n.evictions]));
    expect(tree.protection().min(b)).toBe(0); // nothing resident, nothing to protect
    // createGroup and pins' bookkeeping work while lost; recover() on a smaller device, the pins first.
    const c = tree.create(a, { label: 'c' });
    expect(() => tree.setCapacity(7)).toThrow(InternalError); // under the top-level min (8): the pool refuses first
    tree.setCapacity(32);
    tree.charge(1, 6);
    expect(tree.snapshot().children[0]!.children.map((n) => [n.path, n.usage, n.pinned])).toEqual([['a/b', 6, 6], ['a/c', 0, 0]]);
    expect(tree.capacity).toBe(32);
    expect(tree.pinLimit).toBe(16);
    expect(c.parent).toBe(a);
  });
});

// ---------------------------------------------------------------------------
// Properties

interface Spec {
  capacity: number;
  nodes: { parent: number; max: number; min: number; low: number; pinLimit: number }[];
}

const specArb: fc.Arbitrary<Spec> = fc.integer({ min: 8, max: 64 }).chain((capacity) =>
  fc.array(
    fc.record({
      parent: fc.nat(),
      max: fc.integer({ min: 1, max: capacity }),
      min: fc.nat({ max: capacity }),
      low: fc.nat({ max: capacity }),
      pin: fc.nat({ max: capacity }),
    }),
    { maxLength: 7 },
  ).map((raw) => ({
    capacity,
    nodes: raw.map((r, i) => {
      const max = r.max;
      return { parent: r.parent % (i + 1), max, min: Math.min(r.min, max), low: Math.min(r.low, max), pinLimit: Math.min(r.pin, max) };
    }),
  })),
);

/** The tree of a spec (top-level mins that do not fit are dropped to 0); member i + 1 in node i, member 100 in the root. */
function build(spec: Spec): { tree: GroupTree; nodes: GroupNode[]; members: number[] } {
  const tree = createGroupTree({ capacity: spec.capacity, pinLimit: spec.capacity, checks: true });
  const nodes: GroupNode[] = [tree.root];
  let committed = 0;
  for (const n of spec.nodes) {
    const parent = nodes[n.parent]!;
    let min = n.min;
    if (parent.isRoot) {
      if (committed + min > spec.capacity) min = 0;
      committed += min;
    }
    nodes.push(tree.create(parent, { max: n.max, min, low: n.low, pinLimit: Math.min(n.pinLimit, n.max) }));
  }
  const members = nodes.map((_, i) => (i === 0 ? 100 : i));
  nodes.forEach((n, i) => tree.attach(members[i]!, n));
  return { tree, nodes, members };
}

type Op = { kind: 'charge' | 'uncharge' | 'pin' | 'unpin'; who: number; n: number };
const opArb: fc.Arbitrary<Op> = fc.record({
  kind: fc.constantFrom('charge', 'charge', 'uncharge', 'pin', 'unpin'),
  who: fc.nat(),
  n: fc.integer({ min: 0, max: 12 }),
});

/** Apply ops through the tree's own refusals; returns a plain model of each member's charges and pins. */
function run(tree: GroupTree, members: number[], ops: Op[]): { charged: Map<number, number>; pinned: Map<number, number> } {
  const charged = new Map(members.map((m) => [m, 0]));
  const pinned = new Map(members.map((m) => [m, 0]));
  for (const op of ops) {
    const m = members[op.who % members.length]!;
    if (op.kind === 'charge') {
      if (tree.tryCharge(m, op.n) === undefined) charged.set(m, charged.get(m)! + op.n);
    } else if (op.kind === 'uncharge') {
      // Pinned frames stay charged (resident) until unpinned.
      const n = Math.min(op.n, charged.get(m)! - pinned.get(m)!);
      tree.uncharge(m, n);
      charged.set(m, charged.get(m)! - n);
    } else if (op.kind === 'pin') {
      const n = Math.min(op.n, charged.get(m)! - pinned.get(m)!);
      if (tree.checkPin(m, n) === undefined) {
        tree.pin(m, n);
        pinned.set(m, pinned.get(m)! + n);
      }
    } else {
      const n = Math.min(op.n, pinned.get(m)!);
      tree.unpin(m, n);
      pinned.set(m, pinned.get(m)! - n);
    }
  }
  return { charged, pinned };
}

const RUNS = { numRuns: Number(process.env.HMM_PROP_RUNS ?? 300), seed: Number(process.env.HMM_PROP_SEED ?? 20261117) };

function subtree(n: GroupNode): GroupNode[] {
  return [n, ...n.children.flatMap(subtree)];
}

describe('properties', () => {
  it('usage of a group = the charges of its subtree; pinned likewise (with every invariant checked at every step)', () => {
    fc.assert(
      fc.property(specArb, fc.array(opArb, { maxLength: 60 }), (spec, ops) => {
        const { tree, nodes, members } = build(spec);
        const { charged, pinned } = run(tree, members, ops);
        for (const n of nodes) {
          const inSub = subtree(n).map((x) => members[nodes.indexOf(x)]!);
          expect(tree.usage(n)).toBe(inSub.reduce((s, m) => s + charged.get(m)!, 0));
          expect(tree.pinned(n)).toBe(inSub.reduce((s, m) => s + pinned.get(m)!, 0));
          expect(tree.usage(n)).toBeLessThanOrEqual(tree.maxInForce(n));
        }
      }),
      RUNS,
    );
  });

  it('effective min and low of children ≤ their parent\'s, also added up, relative to any reclaim root', () => {
    fc.assert(
      fc.property(specArb, fc.array(opArb, { maxLength: 60 }), fc.nat(), (spec, ops, pick) => {
        const { tree, nodes, members } = build(spec);
        run(tree, members, ops);
        const L = nodes[pick % nodes.length]!;
        const p = tree.protection(L);
        for (const n of subtree(L)) {
          if (n === L) continue;
          for (const get of [p.min, p.low]) {
            let sum = 0;
            for (const c of n.children) {
              expect(get(c)).toBeLessThanOrEqual(get(n));
              sum += get(c);
            }
            expect(sum).toBeLessThanOrEqual(get(n));
          }
          expect(p.min(n)).toBeGreaterThanOrEqual(Math.min(tree.pinned(n), tree.usage(n))); // pins are always protected
        }
      }),
      RUNS,
    );
  });

  it('a refused pin or charge changes nothing', () => {
    fc.assert(
      fc.property(specArb, fc.array(opArb, { maxLength: 40 }), fc.nat(), fc.integer({ min: 1, max: 80 }), (spec, ops, who, n) => {
        const { tree, members } = build(spec);
        run(tree, members, ops);
        const m = members[who % members.length]!;
        const before = tree.snapshot();
        const refusedPin = tree.checkPin(m, n);
        if (refusedPin) {
          expect(() => tree.pin(m, n)).toThrow(refusedPin.constructor as new () => Error);
          expect(tree.snapshot()).toEqual(before);
        }
        if (tree.tryCharge(m, n) !== undefined) expect(tree.snapshot()).toEqual(before);
      }),
      RUNS,
    );
  });

  it('a plan takes exactly reclaimable() in any order, never another group under its floor, low before min', () => {
    fc.assert(
      fc.property(specArb, fc.array(opArb, { maxLength: 60 }), fc.nat(), fc.integer({ min: 1, max: 64 }), fc.array(fc.nat(), { maxLength: 200 }), (spec, ops, who, need, order) => {
        const { tree, nodes, members } = build(spec);
        run(tree, members, ops);
        const requester = members[who % members.length]!;
        const before = tree.snapshot();
        const plan = tree.planReclaim(requester, need);
        expect(tree.snapshot()).toEqual(before);
        const stage = plan.stages[0];
        if (!stage) {
          expect(tree.room(tree.nodeOf(requester)).frames).toBeGreaterThanOrEqual(need);
          return;
        }
        const total = plan.reclaimable(stage);
        const low = plan.reclaimable(stage, 0);
        const takenSub = new Map<GroupNode, number>();
        let taken = 0;
        let pos = 0;
        const takeAll = (tier: ReclaimTier) => {
          for (;;) {
            const able = members.filter((m) => plan.mayTake(stage, m, tier));
            if (able.length === 0) return;
            const m = able[(order[pos++ % Math.max(1, order.length)] ?? 0) % able.length]!;
            plan.take(stage, m);
            taken++;
            for (let a: GroupNode | undefined = tree.nodeOf(m); a; a = a.parent) takenSub.set(a, (takenSub.get(a) ?? 0) + 1);
          }
        };
        const prot = tree.protection(stage.limit);
        const inStage = new Set(subtree(stage.limit));
        const kin = new Set<GroupNode>();
        for (let a: GroupNode | undefined = tree.nodeOf(requester); a; a = a.parent) kin.add(a);
        takeAll(0);
        // Tier 0 leaves every other group at or above its effective low (and min); reclaimable(·, 0) bounds it.
        expect(taken).toBeLessThanOrEqual(low);
        for (const n of nodes) {
          const t = takenSub.get(n) ?? 0;
          if (t > 0 && !kin.has(n)) expect(tree.usage(n) - t).toBeGreaterThanOrEqual(Math.max(prot.low(n), prot.min(n)));
        }
        takeAll(2);
        expect(taken).toBe(total);
        // Nothing outside the stage's subtree, and no group that does not contain the requester under its effective min.
        for (const n of nodes) {
          const t = takenSub.get(n) ?? 0;
          if (!inStage.has(n)) {
            if (!kin.has(n)) expect(t).toBe(0);
            continue;
          }
          if (!kin.has(n) && t > 0) expect(tree.usage(n) - t).toBeGreaterThanOrEqual(prot.min(n));
          expect(tree.usage(n) - t).toBeGreaterThanOrEqual(Math.min(tree.usage(n), tree.pinned(n))); // pins never go
        }
        plan.commit();
        const counted = flatten(tree.snapshot()).reduce((s, n) => s + n.evictions.self + n.evictions.ancestorMax + n.evictions.others, 0);
        expect(counted).toBe(taken);
      }),
      RUNS,
    );
  });
});
