// Memory groups: limits on how much of a pool's device memory a set of address
// spaces may hold, after the cgroup `dmem` controller and the RFC for pinned
// device memory (../shared/seeds/003_*). A space belongs to one group; a space
// created without one belongs to the pool's root group, which has no limits,
// so a pool without groups behaves as if groups did not exist.
//
//   max       a hard cap on the device bytes the group's spaces hold (frames,
//             pinned ones included). A fault-in that would take the group past
//             it evicts the group's own pages first (CLOCK, restricted to the
//             group); if they cannot make room, WorkingSetTooLargeError names
//             the group's numbers.
//   min       protection: while a group holds min bytes or fewer, no other
//             group's fault-in evicts its pages; above min, others may take
//             what is above. Its own fault-ins may always evict its own pages.
//   pinLimit  the most bytes its spaces may pin together; a pin past it is
//             refused with GroupPinLimitError. As in the RFC, pinning is
//             allowed against the protected amount: pinLimit defaults to min.
//
// Pinned bytes count as the RFC describes: they are part of the group's usage
// (so of max), and they use up its min — the RFC subtracts pinned memory from
// both usage and min and adds it back afterwards, which comes to: the bytes
// other groups cannot take from a group are min(used, max(min, pinned)).
// Pins are also still within the pool's own pinLimit.
//
// Groups are flat under the root (the RFC walks a hierarchy up to the root;
// here every group's parent is the pool). The sum of all groups' min may not
// exceed the capacity, so protection can always be honoured — also later: an
// out-of-memory shrink of the pool (gpu-memory.ts) never goes below the sum,
// and recover() refuses a new device that cannot hold it (loss.ts), as both
// do for pinned pages. A max may come to exceed a pool that shrank: the limit
// in force, and what usage() and the pressure monitor report, is the max cut
// to the pool's capacity now.
//
// State: the group of each space, the limits, and eviction counts per group;
// usage is not stored but summed from the frame table's per-space counts (F4)
// and the spaces' pinned-page counts, so it cannot drift. The victim queries
// built here are the policy: eviction.ts applies them and changes nothing else.

import { GroupPinLimitError, InvalidArgumentError, PoolMismatchError, WorkingSetTooLargeError } from '../errors.ts';
import type { VictimQuery } from './eviction.ts';
import { FREE } from './frames.ts';
import { PoolImpl, type Pool, type PoolMember } from './pool.ts';

export interface GroupOptions {
  /** A name for errors, budgets and events. Default `group<n>`. */
  label?: string;
  /** Most device bytes the group's spaces may hold (a multiple of the page size). Default: the pool's capacity. */
  max?: number;
  /** Bytes of the group's resident pages protected from eviction by other groups. Default 0. */
  min?: number;
  /** Most bytes the group's spaces may pin together. Default: `min` (the RFC's rule). At most `max`. */
  pinLimit?: number;
}

/** A group's limits and what it holds now, in bytes. */
export interface GroupUsage {
  readonly label: string;
  /** Spaces in the group now. */
  readonly spaces: number;
  /** The max in force: as created, cut to the pool's capacity now (an out-of-memory shrink may have made it smaller). */
  readonly max: number;
  readonly min: number;
  /** The pin limit in force: as created, cut to `max` (the root's: the pool's pinLimit). */
  readonly pinLimit: number;
  /** Device bytes its spaces hold (frames, pinned ones included). */
  readonly used: number;
  /** max − used: what it may still take before its fault-ins must evict its own pages. */
  readonly free: number;
  readonly pinned: number;
  /** Bytes other groups cannot evict now: min(used, max(min, pinned)). */
  readonly protected: number;
  /** Its pages evicted to make room for its own spaces. */
  readonly evictedBySelf: number;
  /** Its pages evicted to make room for other groups' spaces. */
  readonly evictedByOthers: number;
}

export interface MemoryGroup {
  readonly label: string;
  readonly pool: Pool;
  readonly max: number;
  readonly min: number;
  readonly pinLimit: number;
  /** What the group holds now. */
  usage(): GroupUsage;
}

export class GroupImpl implements MemoryGroup {
  readonly label: string;
  readonly #table: GroupTable;
  readonly maxFrames: number;
  readonly minFrames: number;
  readonly pinFrames: number;
  /** Space ids in the group. Written by GroupTable.assign/remove only. */
  readonly spaces = new Set<number>();
  /** Eviction counts (pages). Written by GroupTable.noteEvictions only. */
  evictedBySelf = 0;
  evictedByOthers = 0;
  /** The root group: no limits. */
  readonly isRoot: boolean;

  constructor(table: GroupTable, label: string, maxFrames: number, minFrames: number, pinFrames: number, isRoot: boolean) {
    this.#table = table;
    this.label = label;
    this.maxFrames = maxFrames;
    this.minFrames = minFrames;
    this.pinFrames = pinFrames;
    this.isRoot = isRoot;
  }

  get pool(): Pool { return this.#table.pool; }
  get max(): number { return this.maxFrames * this.#table.pool.pageSize; }
  get min(): number { return this.minFrames * this.#table.pool.pageSize; }
  get pinLimit(): number { return this.pinFrames * this.#table.pool.pageSize; }
  get table(): GroupTable { return this.#table; }

  usage(): GroupUsage {
    this.#table.pool.check();
    return this.#table.usage(this);
  }
}

/** The pool's groups: membership, accounting and the group-aware victim queries. Owned by the pool. */
export class GroupTable {
  readonly pool: PoolImpl<PoolMember>;
  readonly root: GroupImpl;
  /** Every group, root first, in creation order. */
  readonly #all: GroupImpl[];
  readonly #ofSpace = new Map<number, GroupImpl>();

  constructor(pool: PoolImpl<PoolMember>) {
    this.pool = pool;
    this.root = new GroupImpl(this, 'root', pool.frameCount, 0, Math.floor(pool.pinLimit / pool.pageSize), true);
    this.#all = [this.root];
  }

  /** Are there groups besides the root? When not, nothing here changes the pool's behaviour. */
  get limited(): boolean {
    return this.#all.length > 1;
  }

  list(): readonly GroupImpl[] {
    return this.#all;
  }

  create(options: GroupOptions): GroupImpl {
    const pool = this.pool;
    if (!options || typeof options !== 'object') throw new InvalidArgumentError('createGroup: pass { label?, max?, min?, pinLimit? }');
    const known = new Set(['label', 'max', 'min', 'pinLimit']);
    for (const key of Object.keys(options)) {
      if (!known.has(key)) throw new InvalidArgumentError(`createGroup: unknown option "${key}"; known options: ${[...known].join(', ')}`);
    }
    const label = options.label ?? `group${this.#all.length}`;
    if (typeof label !== 'string') throw new InvalidArgumentError(`createGroup: label must be a string, got ${typeof label}`);
    const ps = pool.pageSize;
    const frames = (what: string, v: unknown, d: number): number => {
      if (v === undefined) return d;
      if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
        throw new InvalidArgumentError(`createGroup "${label}": ${what} must be a non-negative whole number of bytes, got ${String(v)}`);
      }
      if (v % ps !== 0) {
        throw new InvalidArgumentError(`createGroup "${label}": ${what} ${v} is not a multiple of the pool's page size ${ps}; use ${Math.floor(v / ps) * ps} or ${Math.ceil(v / ps) * ps}`);
      }
      return v / ps;
    };
    const maxF = frames('max', options.max, pool.frameCount);
    const minF = frames('min', options.min, 0);
    const pinF = frames('pinLimit', options.pinLimit, minF);
    if (maxF === 0) throw new InvalidArgumentError(`createGroup "${label}": max must be at least one page (${ps} bytes)`);
    if (maxF > pool.frameCount) throw new InvalidArgumentError(`createGroup "${label}": max ${maxF * ps} exceeds the pool's capacity ${pool.capacity}`);
    if (minF > maxF) throw new InvalidArgumentError(`createGroup "${label}": min ${minF * ps} exceeds its max ${maxF * ps}`);
    if (pinF > maxF) throw new InvalidArgumentError(`createGroup "${label}": pinLimit ${pinF * ps} exceeds its max ${maxF * ps}; pinned bytes count toward max`);
    const minSum = minF + this.minFrames();
    if (minSum > pool.frameCount) {
      throw new InvalidArgumentError(
        `createGroup "${label}": the groups' min would add up to ${minSum * ps} bytes, over the pool's capacity ${pool.capacity}; ` +
          `protection could not be honoured: lower min here or in other groups, or use a larger pool`,
      );
    }
    const g = new GroupImpl(this, label, maxF, minF, pinF, false);
    this.#all.push(g);
    return g;
  }

  /** The group a space joins at creation: `group` from createSpace, or the root. */
  resolve(group: unknown): GroupImpl {
    if (group === undefined) return this.root;
    if (!(group instanceof GroupImpl)) throw new InvalidArgumentError('createSpace: group must come from createGroup()');
    if (group.table !== this) throw new PoolMismatchError(`createSpace: group "${group.label}" belongs to another pool; create the space on that pool or a group on this one`);
    return group;
  }

  assign(spaceId: number, g: GroupImpl): void {
    this.#ofSpace.set(spaceId, g);
    g.spaces.add(spaceId);
  }

  remove(spaceId: number): void {
    this.#ofSpace.get(spaceId)?.spaces.delete(spaceId);
    this.#ofSpace.delete(spaceId);
  }

  of(spaceId: number): GroupImpl {
    return this.#ofSpace.get(spaceId) ?? this.root;
  }

  /** The groups' min added up (frames): never more than the pool's frame count (see the header). */
  minFrames(): number {
    let n = 0;
    for (const g of this.#all) n += g.minFrames;
    return n;
  }

  /** The max in force: the group's max cut to the pool's frames now (the root: all of them). */
  maxFrames(g: GroupImpl): number {
    return g.isRoot ? this.pool.frameCount : Math.min(g.maxFrames, this.pool.frameCount);
  }

  /**
   * The pin limit in force: the root's is the pool's, which an out-of-memory shrink may have cut; a
   * group's is cut to its max in force (pins count toward max).
   */
  pinFrames(g: GroupImpl): number {
    return g.isRoot ? Math.floor(this.pool.pinLimit / this.pool.pageSize) : Math.min(g.pinFrames, this.maxFrames(g));
  }

  usedFrames(g: GroupImpl): number {
    let n = 0;
    for (const s of g.spaces) n += this.pool.frames.ownedCount(s);
    return n;
  }

  pinnedPages(g: GroupImpl): number {
    let n = 0;
    for (const s of g.spaces) n += this.pool.spaces.get(s)?.pinnedPages ?? 0;
    return n;
  }

  /** Frames other groups cannot take from `g` now (see the header): min(used, max(min, pinned)). */
  protectedFrames(g: GroupImpl): number {
    return Math.min(this.usedFrames(g), Math.max(g.minFrames, this.pinnedPages(g)));
  }

  usage(g: GroupImpl): GroupUsage {
    const ps = this.pool.pageSize;
    const used = this.usedFrames(g);
    const max = this.maxFrames(g);
    const pinLimit = this.pinFrames(g);
    return {
      label: g.label, spaces: g.spaces.size, max: max * ps, min: g.minFrames * ps, pinLimit: pinLimit * ps,
      used: used * ps, free: Math.max(0, max - used) * ps, pinned: this.pinnedPages(g) * ps, protected: this.protectedFrames(g) * ps,
      evictedBySelf: g.evictedBySelf, evictedByOthers: g.evictedByOthers,
    };
  }

  /**
   * Of `need` frames a space is about to take, how many must come from its own
   * group's pages because the group would pass its max (0 for the root).
   */
  mustReuse(spaceId: number, need: number): number {
    const g = this.of(spaceId);
    if (g.isRoot) return 0;
    return Math.max(0, need - Math.max(0, this.maxFrames(g) - this.usedFrames(g)));
  }

  /** `base`, restricted to the frames of `spaceId`'s own group. */
  ownQuery(base: VictimQuery, spaceId: number): VictimQuery {
    const g = this.of(spaceId);
    return { ...base, eligible: (s) => this.of(s) === g };
  }

  /**
   * `base`, with other groups' min protection: a frame of another group may be
   * taken only while that group, less what this request has taken from it,
   * holds more than its min. Without groups: `base` itself (no cost).
   */
  poolQuery(base: VictimQuery, spaceId: number): VictimQuery {
    if (!this.limited) return base;
    const g = this.of(spaceId);
    return {
      ...base,
      eligible: (s, taken) => {
        const h = this.of(s);
        if (h === g || h.minFrames === 0) return true;
        let took = 0;
        for (const x of h.spaces) took += taken.get(x) ?? 0;
        return this.usedFrames(h) - took > h.minFrames;
      },
    };
  }

  /** Count evictions per group, before `victims` (frames, still owned) are evicted for `spaceId`. */
  noteEvictions(spaceId: number, victims: readonly number[]): void {
    if (!this.limited || victims.length === 0) return;
    const g = this.of(spaceId);
    const owner = this.pool.frames.owner;
    for (const f of victims) {
      const o = owner[f]!;
      if (o === FREE) continue;
      const h = this.of(o);
      if (h === g) h.evictedBySelf++;
      else h.evictedByOthers++;
    }
  }

  /**
   * Frames the pages of `pages` (ascending, of `space`) could hold at most: the
   * pool less what others' pins and min protection hold, and less the pins of
   * the space's own group outside `pages`, capped by the group's max.
   */
  availableFrames(space: PoolMember, pages: Uint32Array): { available: number; group: GroupImpl | undefined } {
    const pool = this.pool;
    let pinnedInside = 0;
    for (const p of pages) if (space.isPinned(p)) pinnedInside++;
    const poolAvailable = pool.frameCount - (pool.pinnedPages - pinnedInside);
    if (!this.limited) return { available: poolAvailable, group: undefined };
    const g = this.of(space.id);
    let held = 0;
    for (const h of this.#all) if (h !== g) held += this.protectedFrames(h);
    const ownPinnedOutside = this.pinnedPages(g) - pinnedInside;
    const available = Math.min(poolAvailable, pool.frameCount - held - ownPinnedOutside);
    if (g.isRoot) return { available, group: undefined };
    const capped = this.maxFrames(g) - ownPinnedOutside;
    return capped < available ? { available: capped, group: g } : { available, group: undefined };
  }

  /** Refuse a pin of `fresh` more pages of `space` past its group's pin limit (the root: the pool's, checked by the caller). */
  checkPin(space: PoolMember, fresh: number): void {
    const g = this.of(space.id);
    if (g.isRoot || fresh === 0) return;
    const pinned = this.pinnedPages(g);
    const ps = this.pool.pageSize;
    const limit = this.pinFrames(g);
    if (pinned + fresh > limit) throw new GroupPinLimitError(g.label, fresh * ps, pinned * ps, limit * ps);
  }

  /** Throw WorkingSetTooLargeError before moving anything if `pages` cannot fit (naming the group when its max is what binds). */
  checkFits(space: PoolMember, pages: Uint32Array): void {
    const { available, group } = this.availableFrames(space, pages);
    if (pages.length > available) throw this.tooLarge(space, pages.length, available, group);
  }

  tooLarge(space: PoolMember, needPages: number, availablePages: number, group: GroupImpl | undefined): WorkingSetTooLargeError {
    const pool = this.pool;
    const ps = pool.pageSize;
    if (!group) {
      if (!this.limited) return new WorkingSetTooLargeError(needPages * ps, availablePages * ps, pool.capacity, pool.pinnedPages * ps);
      const g = this.of(space.id);
      let held = 0;
      for (const h of this.#all) if (h !== g) held += this.protectedFrames(h);
      return new WorkingSetTooLargeError(
        needPages * ps, availablePages * ps, pool.capacity, pool.pinnedPages * ps, 'the working set',
        `other memory groups hold ${held * ps} bytes that it may not evict (their min and pins): split the dispatch, unpin, ` +
          `lower the other groups' min, or use a larger pool`,
      );
    }
    const u = this.usage(group);
    return new WorkingSetTooLargeError(
      needPages * ps, availablePages * ps, pool.capacity, pool.pinnedPages * ps,
      `the working set of space "${space.label}" in memory group "${group.label}" (max ${u.max} bytes, ${u.used} used, ${u.pinned} pinned by its spaces)`,
      `the group's max caps it at ${availablePages * ps} bytes: create the group with a larger max, unpin in the group, or split the dispatch`,
    );
  }
}

/**
 * Create a memory group on `pool`. Spaces join it at creation:
 * `createSpace(pool, { size, group })`.
 */
export function createGroup(pool: Pool, options: GroupOptions = {}): MemoryGroup {
  if (!(pool instanceof PoolImpl)) throw new PoolMismatchError('createGroup: pass a Pool from createPool()');
  pool.check();
  return pool.groups.create(options);
}
