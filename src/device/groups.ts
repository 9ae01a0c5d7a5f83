// Memory groups: limits on how much of a pool's device memory a set of address
// spaces may hold, after the cgroup `dmem` controller and the RFC for pinned
// device memory (../shared/seeds/003_*). Groups form a tree under the pool
// (the root group); a space belongs to one group, leaf or inner, and a space
// created without one belongs to the root, which has no limits of its own —
// so a pool without groups behaves as if groups did not exist.
//
//   max       caps the device bytes of the group's subtree (its spaces' and its
//             descendants', pinned ones included). A fault-in that would take
//             a group past its max — or any ancestor past its own — evicts
//             within that subtree first; if the subtree cannot make room,
//             WorkingSetTooLargeError names the group and its numbers.
//   min       hard protection: a group's pages at or under its effective min
//             are never evicted for another group. Its own fault-ins may take
//             them, last of all.
//   low       best-effort protection: pages at or under the effective low are
//             evicted only when nothing above any group's low can give.
//   pinLimit  the most bytes the subtree may pin; every group up to the root
//             must allow a pin (the RFC). Defaults to min, as in the RFC.
//
// The bookkeeping and the policy are group-tree.ts's, a pure module: the
// hierarchy, charges and pins walked to the root, effective min/low computed
// top-down as mm/page_counter.c does (pinned bytes subtracted before and added
// back after, as the RFC says), the reclaim classifier by tiers, and where
// the runtime differs from the kernel and why (its header). This module maps
// the pool onto it:
//
//   sync      usage is not charged at every frame move: the frame table's
//             per-space counts (F4) and the spaces' pinned-page counts are the
//             truth, and #sync() sets each member to them (decreases first, so
//             no max is passed in between) before the tree is asked anything.
//             The capacity and pin limit follow the pool's (an out-of-memory
//             shrink, recover() onto another device).
//   reclaim   one plan per fault-in: its stages (the requester's max, each
//             ancestor's, the pool) in order, each stage's victims by tier —
//             above effective low, above effective min, the requester's own
//             protected frames — with CLOCK and the advice tiers inside each
//             (eviction.ts chooseVictimsInTiers).
//   commit    the plan's evictions counted per group by cause (own pressure,
//             an ancestor's max, another group) once the victims are final.
//   snapshot  pool.budget()'s tree, in bytes.
//
// The top-level groups' min may not add up to more than the capacity, so
// protection can always be honoured — also later: an out-of-memory shrink of
// the pool (buffer-alloc.ts) never goes below the sum, and recover() refuses a
// new device that cannot hold it (loss.ts), as both do for pinned pages. A
// nested group's min is shared out of its parent's (and may overcommit it). A
// max may come to exceed a pool that shrank: the limit in force is the max
// cut to the pool's capacity now.
//
// Creating a group changes bookkeeping only: it works while the device is lost.

import { fail } from '../assert.ts';
import { DestroyedError, InvalidArgumentError, PoolMismatchError, WorkingSetTooLargeError } from '../errors.ts';
import { chooseVictims, chooseVictimsInTiers, type VictimQuery } from './eviction.ts';
import {
  createGroupTree, type EvictionCause, type GroupNode, type GroupSnapshot, type GroupTree, type ReclaimPlan, type ReclaimStage, type ReclaimTier,
} from './group-tree.ts';
import { PoolImpl, type Pool, type PoolMember } from './pool.ts';

export type { EvictionCause } from './group-tree.ts';

/** Limits of a memory group, in bytes (each a multiple of the page size), as in the cgroup dmem controller. */
export interface GroupOptions {
  /** A name for errors, budgets and events. Default `group<n>`. */
  label?: string;
  /** Most device bytes the group's subtree may hold (a multiple of the page size). Default: the pool's capacity. */
  max?: number;
  /** Bytes of the subtree's resident pages protected from eviction by other groups (hard). Default 0. */
  min?: number;
  /** Bytes protected while other groups have pages above their own protection to give (best effort). Default 0. */
  low?: number;
  /** Most bytes the subtree's spaces may pin together. Default: `min` (the RFC's rule). At most `max`. */
  pinLimit?: number;
}

/** A group's limits and what it holds now, in bytes (evictions in pages). */
export interface GroupUsage {
  /** The group's label. */
  readonly label: string;
  /** Labels from the top-level group down, joined by '/' ('root' for the root). */
  readonly path: string;
  /** Spaces in the group itself now. */
  readonly spaces: number;
  /** The max in force: as created, cut to the pool's capacity now (an out-of-memory shrink may have made it smaller). */
  readonly max: number;
  /** Hard protection from other groups' evictions, as created. */
  readonly min: number;
  /** Best-effort protection from other groups' evictions, as created. */
  readonly low: number;
  /** The pin limit in force: as created, cut to `max` (the root's: the pool's pinLimit). */
  readonly pinLimit: number;
  /**
   * Device bytes its subtree holds (frames, pinned ones included): its spaces' and its descendant groups'.
   * The root's entry counts its own spaces only (those created without a group), as before groups were a
   * tree: the pool's total is PoolBudget.used, and the tree's root.
   */
  readonly used: number;
  /** max − used: what it may still take before its fault-ins must evict within it. */
  readonly free: number;
  /** Pinned bytes of its subtree (the root's entry: of its own spaces). */
  readonly pinned: number;
  /** Bytes other groups cannot evict now: min(used, effectiveMin) (the root's entry: its own pinned bytes). */
  readonly protected: number;
  /** Effective protection against the pool's pressure (computed top-down, pinned bytes added back). */
  readonly effectiveMin: number;
  /** Effective best-effort protection against the pool's pressure (computed top-down, pinned bytes added back). */
  readonly effectiveLow: number;
  /** Its spaces' pages evicted to make room for its own spaces. */
  readonly evictedBySelf: number;
  /** Its spaces' pages evicted to make room for other groups' spaces (under a common ancestor's max, or the pool's). */
  readonly evictedByOthers: number;
  /** Its spaces' pages evicted, by cause: its own fault-ins, another group's under a common ancestor's max, another group's with the pool full. */
  readonly evictions: Readonly<Record<EvictionCause, number>>;
}

/** pool.budget()'s tree: every group with its subtree's numbers, in bytes (evictions in pages). */
export interface GroupBudget {
  /** The group's label ('root' for the pool). */
  readonly label: string;
  /** Labels from the top-level group down, joined by '/' ('root' for the root). */
  readonly path: string;
  /** Distance from the root (the root: 0, a top-level group: 1). */
  readonly depth: number;
  /** Spaces in the group itself. */
  readonly spaces: number;
  /** The max in force: as created, cut to the pool's capacity now. */
  readonly max: number;
  /** Hard protection from other groups' evictions. */
  readonly min: number;
  /** Best-effort protection from other groups' evictions. */
  readonly low: number;
  /** The pin limit in force: as created, cut to `max` (the root's: the pool's pinLimit). */
  readonly pinLimit: number;
  /** Its subtree's device bytes (the root's: the pool's), and its own spaces'. */
  readonly used: number;
  /** Device bytes of the group's own spaces (not its descendants'). */
  readonly own: number;
  /** Pinned bytes of its subtree. */
  readonly pinned: number;
  /** Relative to the whole pool (the root's: 0), pinned bytes added back. */
  readonly effectiveMin: number;
  /** Effective best-effort protection, relative to the whole pool, pinned bytes added back. */
  readonly effectiveLow: number;
  /** Its own spaces' pages evicted, by cause. */
  readonly evictions: Readonly<Record<EvictionCause, number>>;
  /** Its child groups, in creation order. */
  readonly children: readonly GroupBudget[];
}

/**
 * A memory group of a pool (`createGroup`): a subtree of spaces with device
 * memory limits — `max` (most device bytes), `min`/`low` (protection from other
 * groups' evictions) and `pinLimit` — as in the Linux cgroup dmem controller.
 * Spaces join a group when created (`createSpace(pool, { group })`).
 */
export interface MemoryGroup {
  /** A name for errors, budgets and events. */
  readonly label: string;
  /** Labels from the top-level group down, joined by '/'. */
  readonly path: string;
  /** The pool the group belongs to. */
  readonly pool: Pool;
  /** The group it was created under: the pool's root group for a top-level group; undefined for the root. */
  readonly parent: MemoryGroup | undefined;
  /** Most device bytes its subtree may hold, as created (bytes). */
  readonly max: number;
  /** Bytes of its subtree protected from eviction by other groups (hard), as created. */
  readonly min: number;
  /** Bytes protected while other groups have pages above their own protection to give (best effort), as created. */
  readonly low: number;
  /** Most bytes its subtree's spaces may pin together, as created (default `min`). */
  readonly pinLimit: number;
  /** What the group holds now. */
  usage(): GroupUsage;
}

export class GroupImpl implements MemoryGroup {
  readonly #table: GroupTable;
  readonly node: GroupNode;
  readonly parent: GroupImpl | undefined;

  constructor(table: GroupTable, node: GroupNode, parent: GroupImpl | undefined) {
    this.#table = table;
    this.node = node;
    this.parent = parent;
  }

  get label(): string { return this.node.label; }
  get path(): string { return this.node.path; }
  get isRoot(): boolean { return this.node.isRoot; }
  get pool(): Pool { return this.#table.pool; }
  get table(): GroupTable { return this.#table; }
  /** As created, in frames (the root's: the capacity when the pool was made). */
  get maxFrames(): number { return this.node.max; }
  get minFrames(): number { return this.node.min; }
  get lowFrames(): number { return this.node.low; }
  get pinFrames(): number { return this.node.pinLimit; }
  get max(): number { return this.node.max * this.#table.pool.pageSize; }
  get min(): number { return this.node.min * this.#table.pool.pageSize; }
  get low(): number { return this.node.low * this.#table.pool.pageSize; }
  get pinLimit(): number { return this.node.pinLimit * this.#table.pool.pageSize; }

  usage(): GroupUsage {
    this.#table.pool.check();
    return this.#table.usage(this);
  }
}

/** The victims one fault-in takes, chosen; commit() counts them and runs the eviction. */
export interface Reclaim {
  readonly victims: readonly number[];
  /** Count the evictions per group by cause, then run `evict` (synchronously) with the limit that made them visible to the pressure monitor. */
  commit<T>(evict: () => T): T;
}

/** A group whose max a fault-in hit (for the pressure monitor). */
export interface LimitHit {
  readonly key: object;
  readonly label: string;
  readonly maxFrames: number;
  readonly usedFrames: number;
}

const NONE: Reclaim = { victims: [], commit: (evict) => evict() };

/** The pool's groups: membership, the tree's bookkeeping kept in step with the frame table, and the group-aware victim choice. Owned by the pool. */
export class GroupTable {
  readonly pool: PoolImpl<PoolMember>;
  readonly tree: GroupTree;
  readonly root: GroupImpl;
  /** Every group, root first, in creation order (parents before children). */
  readonly #all: GroupImpl[];
  readonly #byNode = new Map<GroupNode, GroupImpl>();
  /** The spaces attached to each group itself (the root's included). */
  readonly #spaces = new Map<GroupImpl, Set<number>>();
  /** The limit of the eviction running now (commit()), for the pressure monitor; undefined: none, or the pool's. */
  #evictingFor: GroupImpl | undefined;

  constructor(pool: PoolImpl<PoolMember>) {
    this.pool = pool;
    this.tree = createGroupTree({ capacity: pool.frameCount, pinLimit: this.#poolPinFrames(), pageSize: pool.pageSize });
    this.root = new GroupImpl(this, this.tree.root, undefined);
    this.#all = [this.root];
    this.#byNode.set(this.tree.root, this.root);
  }

  #poolPinFrames(): number {
    return Math.floor(this.pool.pinLimit / this.pool.pageSize);
  }

  /** Are there groups besides the root? When not, nothing here changes the pool's behaviour. */
  get limited(): boolean {
    return this.#all.length > 1;
  }

  list(): readonly GroupImpl[] {
    return this.#all;
  }

  #group(node: GroupNode): GroupImpl {
    const g = this.#byNode.get(node);
    if (!(g !== undefined)) fail(`memory group "${node.path}" has no handle`);
    return g;
  }

  /**
   * Bring the tree to the truth: capacity and pin limit from the pool, each
   * member's frames from the frame table and pinned pages from its page table.
   * Decreases go first, so that no max is passed between two members' updates
   * (frames that moved between siblings under a parent at its max).
   */
  #sync(): void {
    const pool = this.pool;
    const tree = this.tree;
    const pinCap = this.#poolPinFrames();
    if (tree.capacity !== pool.frameCount || tree.pinLimit !== pinCap) {
      // Charged frames may exceed the new capacity until synced: start from none (the truth fits: F4).
      tree.resetCharges();
      tree.setCapacity(pool.frameCount, pinCap);
    }
    const up: [number, number, number][] = [];
    for (const set of this.#spaces.values()) for (const id of set) {
      const charged = pool.frames.ownedCount(id);
      const pinned = pool.spaces.get(id)?.pinnedPages ?? 0;
      if (charged < tree.charged(id)) tree.sync(id, charged, pinned);
      else up.push([id, charged, pinned]);
    }
    for (const [id, charged, pinned] of up) tree.sync(id, charged, pinned);

  }

  create(parent: GroupImpl, options: GroupOptions): GroupImpl {
    const pool = this.pool;
    if (!options || typeof options !== 'object') throw new InvalidArgumentError('createGroup: pass { label?, max?, min?, low?, pinLimit? }');
    const known = new Set(['label', 'max', 'min', 'low', 'pinLimit']);
    for (const key of Object.keys(options)) {
      if (!known.has(key)) throw new InvalidArgumentError(`createGroup: unknown option "${key}"; known options: ${[...known].join(', ')}`);
    }
    const label = options.label ?? `group${this.#all.length}`;
    if (typeof label !== 'string') throw new InvalidArgumentError(`createGroup: label must be a string, got ${typeof label}`);
    if (label.length === 0) throw new InvalidArgumentError('createGroup: label must not be empty; leave it out for group<n>');
    if (label.includes('/')) throw new InvalidArgumentError(`createGroup: label "${label}" contains '/', which separates the labels of a group's path; choose another`);
    const ps = pool.pageSize;
    const frames = (what: string, v: unknown): number | undefined => {
      if (v === undefined) return undefined;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
        throw new InvalidArgumentError(`createGroup "${label}": ${what} must be a non-negative whole number of bytes, got ${String(v)}`);
      }
      if (v % ps !== 0) {
        throw new InvalidArgumentError(`createGroup "${label}": ${what} ${v} is not a multiple of the pool's page size ${ps}; use ${Math.floor(v / ps) * ps} or ${Math.ceil(v / ps) * ps}`);
      }
      return v / ps;
    };
    const o = { max: frames('max', options.max), min: frames('min', options.min), low: frames('low', options.low), pinLimit: frames('pinLimit', options.pinLimit) };
    this.#sync(); // the capacity in force (a shrink, a recover)
    const node = this.tree.create(parent.node, {
      label, ...(o.max !== undefined ? { max: o.max } : {}), ...(o.min !== undefined ? { min: o.min } : {}),
      ...(o.low !== undefined ? { low: o.low } : {}), ...(o.pinLimit !== undefined ? { pinLimit: o.pinLimit } : {}),
    });
    const g = new GroupImpl(this, node, parent);
    this.#all.push(g);
    this.#byNode.set(node, g);
    return g;
  }

  /** The group a space joins at creation: `group` from createSpace, or the root. */
  resolve(group: unknown): GroupImpl {
    if (group === undefined) return this.root;
    if (!(group instanceof GroupImpl)) throw new InvalidArgumentError('createSpace: group must come from createGroup()');
    if (group.table !== this) throw new PoolMismatchError(`createSpace: group "${group.path}" belongs to another pool; create the space on that pool or a group on this one`);
    return group;
  }

  assign(spaceId: number, g: GroupImpl): void {
    this.tree.attach(spaceId, g.node);
    let set = this.#spaces.get(g);
    if (!set) this.#spaces.set(g, (set = new Set()));
    set.add(spaceId);
  }

  remove(spaceId: number): void {
    if (!this.tree.isAttached(spaceId)) return;
    const g = this.of(spaceId);
    this.tree.detach(spaceId);
    this.#spaces.get(g)?.delete(spaceId);
  }

  of(spaceId: number): GroupImpl {
    return this.#group(this.tree.nodeOf(spaceId));
  }

  /** The top-level groups' min added up (frames): never more than the pool's frame count (see the header). */
  minFrames(): number {
    return this.tree.committedMin();
  }

  /** The max in force: the group's max cut to the pool's frames now (the root: all of them). */
  maxFrames(g: GroupImpl): number {
    return g.isRoot ? this.pool.frameCount : Math.min(g.node.max, this.pool.frameCount);
  }

  /** The pin limit in force: the root's is the pool's (an out-of-memory shrink may have cut it); a group's is cut to its max in force. */
  pinFrames(g: GroupImpl): number {
    return g.isRoot ? this.#poolPinFrames() : Math.min(g.node.pinLimit, this.maxFrames(g));
  }

  /** Frames its subtree holds (the root: the whole pool's). */
  usedFrames(g: GroupImpl): number {
    this.#sync();
    return this.tree.usage(g.node);
  }

  usage(g: GroupImpl): GroupUsage {
    this.#sync();
    const tree = this.tree;
    const ps = this.pool.pageSize;
    const n = g.node;
    const max = this.maxFrames(g);
    const ev = tree.evictions(n);
    let used: number;
    let pinned: number;
    let prot: number;
    let emin = 0;
    let elow = 0;
    if (n.isRoot) {
      // The root's entry: its own spaces (see GroupUsage.used).
      used = tree.own(n);
      pinned = 0;
      for (const id of this.#spaces.get(g) ?? []) pinned += tree.pinnedOf(id);
      prot = Math.min(used, pinned);
    } else {
      const p = tree.protection();
      used = tree.usage(n);
      pinned = tree.pinned(n);
      emin = p.min(n);
      elow = p.low(n);
      prot = Math.min(used, emin);
    }
    return {
      label: n.label, path: n.path, spaces: this.#spaces.get(g)?.size ?? 0,
      max: max * ps, min: n.min * ps, low: n.low * ps, pinLimit: this.pinFrames(g) * ps,
      used: used * ps, free: Math.max(0, max - used) * ps, pinned: pinned * ps, protected: prot * ps,
      effectiveMin: emin * ps, effectiveLow: elow * ps,
      evictedBySelf: ev.self, evictedByOthers: ev.ancestorMax + ev.others, evictions: ev,
    };
  }

  /** The tree for pool.budget(), in bytes. */
  budget(): GroupBudget {
    this.#sync();
    const ps = this.pool.pageSize;
    const conv = (s: GroupSnapshot): GroupBudget => ({
      label: s.label, path: s.path, depth: s.depth, spaces: s.members,
      max: s.max * ps, min: s.min * ps, low: s.low * ps, pinLimit: s.pinLimit * ps,
      used: s.usage * ps, own: s.own * ps, pinned: s.pinned * ps, effectiveMin: s.effectiveMin * ps, effectiveLow: s.effectiveLow * ps,
      evictions: s.evictions, children: s.children.map(conv),
    });
    return conv(this.tree.snapshot());
  }

  /** Groups with a max of their own (all but the root), for the pressure monitor's high water: subtree usage against the max in force. */
  pressureGroups(): LimitHit[] {
    if (!this.limited) return [];
    this.#sync();
    return this.#all.filter((g) => !g.isRoot).map((g) => this.#limitHit(g));
  }

  #limitHit(g: GroupImpl): LimitHit {
    return { key: g, label: g.path, maxFrames: this.maxFrames(g), usedFrames: this.tree.usage(g.node) };
  }

  /** The group whose max the eviction running now was made for (undefined: none, or the pool's capacity). */
  evictionLimit(): LimitHit | undefined {
    return this.#evictingFor ? this.#limitHit(this.#evictingFor) : undefined;
  }

  /** `count` frames of `space` evicted outside a reclaim (a demand dispatch retiring a stream's pages early). */
  noteEvictions(space: PoolMember, count: number): void {
    if (count > 0) this.tree.noteEviction(space.id, 'self', count);
  }

  /**
   * Victims for `need` more frames of `space`, chosen but not yet evicted: for
   * each stage of the reclaim plan (its group's max, each ancestor's, the pool),
   * lowest first, the group tiers in order with CLOCK inside (see the header).
   * `locked` frames of the space may not be taken (its resident, unpinned pages
   * of the working set, and frames it took for the rest). Free frames make up
   * the rest of `need`: the victims are at least need − free frames. Throws
   * WorkingSetTooLargeError, naming the limit and the groups whose protection
   * held, when a stage cannot give what it must (`workingSet` pages in all).
   */
  reclaim(space: PoolMember, need: number, q: VictimQuery, chosen: Uint8Array, locked: number, workingSet: number): Reclaim {
    const frames = this.pool.frames;
    if (!this.limited) {
      const short = need - frames.freeCount;
      if (short <= 0) return NONE;
      const victims = chooseVictims(frames, short, q, chosen);
      if (victims.length < short) throw this.#tooLarge(space, undefined, undefined, workingSet, workingSet - short + victims.length);
      return {
        victims,
        commit: (evict) => {
          for (const f of victims) this.tree.noteEviction(frames.owner[f]!, 'self');
          return evict();
        },
      };
    }
    this.#sync();
    const plan = this.tree.planReclaim(space.id, need, { locked: new Map([[space.id, locked]]) });
    const base = workingSet - need;
    const blocked = plan.blocked();
    if (blocked) throw this.#tooLarge(space, plan, blocked, workingSet, base + plan.available(blocked));
    const victims: number[] = [];
    let hit: GroupImpl | undefined;
    for (const stage of plan.stages) {
      const want = plan.remaining(stage);
      if (want === 0) continue;
      const tier = (t: ReclaimTier): VictimQuery => ({ ...q, eligible: (s) => plan.mayTake(stage, s, t), took: (s) => plan.take(stage, s) });
      const got = chooseVictimsInTiers(frames, want, [tier(0), tier(1), tier(2)], chosen);
      for (const f of got) victims.push(f);
      // The plan counted what CLOCK may take (pins and locks excluded): short only if they disagree.
      if (got.length < want) throw this.#tooLarge(space, plan, stage, workingSet, workingSet - plan.remaining(stage));
      if (got.length > 0 && !hit && !stage.limit.isRoot) hit = this.#group(stage.limit);
    }
    if (victims.length === 0) return NONE;
    return {
      victims,
      commit: (evict) => {
        plan.commit();
        this.#evictingFor = hit;
        try {
          return evict();
        } finally {
          this.#evictingFor = undefined;
        }
      },
    };
  }

  /**
   * Frames the pages of `pages` (ascending, of `space`) could hold at most,
   * and the group whose max binds (undefined: the pool's capacity binds): for
   * each limit on the walk up, its max less what its subtree holds that this
   * working set may not take — pins, other groups' protection, pages of the
   * set itself count as its own.
   */
  availableFrames(space: PoolMember, pages: Uint32Array): { available: number; group: GroupImpl | undefined } {
    const pool = this.pool;
    let pinnedInside = 0;
    let resident = 0;
    for (const p of pages) {
      const pinned = space.isPinned(p);
      if (pinned) pinnedInside++;
      else if (space.frameOf(p) !== 0xffffffff) resident++;
    }
    if (!this.limited) return { available: pool.frameCount - (pool.pinnedPages - pinnedInside), group: undefined };
    this.#sync();
    // A request larger than any max: every limit on the walk up is a stage, each telling what it could give.
    const need = this.tree.capacity + 1;
    const plan = this.tree.planReclaim(space.id, need, { locked: new Map([[space.id, resident]]) });
    let best = Infinity;
    let binding: GroupNode | undefined;
    for (let i = plan.stages.length - 1; i >= 0; i--) {
      const s = plan.stages[i]!;
      // need passes every max, so available(s) = max − usage + reclaimable: the new frames the stage allows.
      const a = plan.available(s);
      if (a < best) {
        best = a;
        binding = s.limit;
      }
    }
    // Pinned and resident pages of the set are in their limits' usage already: they count as room.
    const available = Math.max(0, best) + pinnedInside + resident;
    return { available, group: binding && !binding.isRoot ? this.#group(binding) : undefined };
  }

  /** Refuse a pin of `fresh` more pages of `space` past any pin limit up to the root (the pool's is checked by the caller first). */
  checkPin(space: PoolMember, fresh: number): void {
    if (fresh === 0) return;
    this.#sync();
    const refused = this.tree.checkPin(space.id, fresh);
    if (refused) throw refused;
  }

  /** Throw WorkingSetTooLargeError before moving anything if `pages` cannot fit (naming the group when a max is what binds). */
  checkFits(space: PoolMember, pages: Uint32Array): void {
    const { available } = this.availableFrames(space, pages);
    if (pages.length <= available) return;
    if (!this.limited) throw this.#tooLarge(space, undefined, undefined, pages.length, available);
    // The plan of the fault-in itself names the stage that binds, and the groups whose protection held.
    let counted = 0;
    let resident = 0;
    for (const p of pages) {
      if (space.isPinned(p)) counted++;
      else if (space.frameOf(p) !== 0xffffffff) resident++;
    }
    const plan = this.tree.planReclaim(space.id, pages.length - counted - resident, { locked: new Map([[space.id, resident]]) });
    const stage = plan.blocked();
    if (!(stage !== undefined)) fail(`checkFits: ${pages.length} pages over the ${available} available, but no stage of the plan is blocked`);
    throw this.#tooLarge(space, plan, stage, pages.length, available);
  }

  #tooLarge(space: PoolMember, plan: ReclaimPlan | undefined, stage: ReclaimStage | undefined, needed: number, available: number): WorkingSetTooLargeError {
    const pool = this.pool;
    const ps = pool.pageSize;
    const pinnedBytes = pool.pinnedPages * ps;
    if (!plan || !stage) return new WorkingSetTooLargeError(needed * ps, available * ps, pool.capacity, pinnedBytes);
    const tree = this.tree;
    const requester = plan.requester;
    const L = stage.limit;
    // Groups whose protection (or pins) held frames the request could not take, most first.
    const held = plan.classify(stage).filter((c) => c.node !== requester && c.held > 0).sort((a, b) => b.held - a.held);
    const names = held.slice(0, 4).map((c) => `"${c.node.path}" ${c.held * ps}`).join(', ') + (held.length > 4 ? `, and ${held.length - 4} more` : '');
    const heldBytes = held.reduce((x, c) => x + c.held, 0) * ps;
    if (L.isRoot) {
      return new WorkingSetTooLargeError(
        needed * ps, available * ps, pool.capacity, pinnedBytes,
        requester.isRoot ? 'the working set' : `the working set of space "${space.label}" in memory group "${requester.path}"`,
        `other memory groups hold ${heldBytes} bytes that it may not evict (their effective min and pins${held.length > 0 ? `: ${names}` : ''}): ` +
          `split the dispatch, unpin, lower those groups' min (or their ancestors'), or use a larger pool`,
      );
    }
    const max = tree.maxInForce(L) * ps;
    const used = tree.usage(L) * ps;
    const pinned = tree.pinned(L) * ps;
    const protectedBy = held.length > 0 ? `, with ${heldBytes} bytes under it held by protection and pins (${names})` : '';
    if (L === requester) {
      return new WorkingSetTooLargeError(
        needed * ps, available * ps, pool.capacity, pinnedBytes,
        `the working set of space "${space.label}" in memory group "${L.path}" (max ${max} bytes, ${used} used, ${pinned} pinned by its spaces)`,
        `the group's max caps it at ${available * ps} bytes${protectedBy}: create the group with a larger max, unpin in the group, or split the dispatch`,
      );
    }
    return new WorkingSetTooLargeError(
      needed * ps, available * ps, pool.capacity, pinnedBytes,
      `the working set of space "${space.label}" in memory group "${requester.path}" under "${L.path}" ` +
        `(the max of "${L.path}" is ${max} bytes, ${used} used in its subtree, ${pinned} pinned)`,
      `the max of "${L.path}" caps it at ${available * ps} bytes${protectedBy}: create "${L.path}" with a larger max, unpin under it, or split the dispatch`,
    );
  }

  /** The tree against the truth (tests: pool.checkInvariants). */
  checkInvariants(): void {
    this.#sync();
    const pool = this.pool;
    this.tree.checkInvariants({ charged: (id) => pool.frames.ownedCount(id), pinned: (id) => pool.spaces.get(id)?.pinnedPages ?? 0 });
  }
}

/**
 * Create a memory group under `parent`: a pool (the group is top-level, under
 * the pool's root) or another group of that pool. Spaces join a group at
 * creation: `createSpace(pool, { size, group })`. Bookkeeping only: works
 * while the device is lost.
 *
 * @example
 * ```ts
 * const tenants = createGroup(pool, { label: 'tenants', max: 48 << 20 });
 * const a = createGroup(tenants, { label: 'a', min: 8 << 20 }); // 8 MiB others cannot evict
 * const space = createSpace(pool, { size: 256 << 20, group: a });
 * console.log(pool.budget().tree.children[0]?.used);
 * ```
 */
export function createGroup(parent: Pool | MemoryGroup, options: GroupOptions = {}): MemoryGroup {
  let table: GroupTable;
  let under: GroupImpl;
  if (parent instanceof PoolImpl) {
    table = parent.groups;
    under = table.root;
  } else if (parent instanceof GroupImpl) {
    table = parent.table;
    under = parent;
  } else {
    throw new PoolMismatchError('createGroup: pass a Pool from createPool(), or a MemoryGroup from createGroup() to nest the new group under it');
  }
  if (table.pool.destroyed) throw new DestroyedError('this pool');
  return table.create(under, options);
}
