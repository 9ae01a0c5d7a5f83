// Known footprints: what a kernel's slice touched the last time it ran through
// the same way on a space — the pages its last clean commit needed and wrote
// (a transaction), or the pages its passes accessed (a replay) — by grid,
// arguments and slice. A kernel dispatched again the same way (the iterations
// of a solver) most often touches the same pages: a transaction slice then
// commits at once with no probe, and a replay slice fetches the pages before
// its first pass (src/fault/demand.ts). A footprint is only ever a guess: a
// commit on a wrong one aborts and is restored, a pass on a wrong one stalls,
// and either goes on as a first dispatch would, so exactness never depends on it.
//
// The store is per space and kernel object (perSpaceKernel), at
// most `maxEntries` footprints and `maxPages` page numbers in all, the least
// recently remembered dropped first.

import type { Kernel } from '../kernel/kernel.ts';
import type { SpaceCore } from '../space/state.ts';

export interface KnownFootprint {
  /** Ascending pages the slice needed (a transaction's commit) or accessed (a replay's passes). */
  readonly need: Uint32Array;
  /** Ascending pages its commit wrote; empty for a replay. */
  readonly writes: Uint32Array;
}

/** Footprints kept per space and kernel, the oldest dropped first. */
export const KNOWN_FOOTPRINTS = 64;
/**
 * Pages (need and writes together) the footprints of one space and kernel hold at most, the oldest
 * dropped first: 8 MiB of page numbers. Each footprint fits the pool, but 64 of a pool of 2^20
 * frames (4 GiB of 4 KiB pages) would hold 512 MiB.
 */
export const KNOWN_FOOTPRINT_PAGES = 1 << 21;

/** The footprints of one kernel on one space. */
export class KnownFootprints {
  readonly #entries = new Map<string, KnownFootprint>();
  #pages = 0;
  readonly #maxEntries: number;
  readonly #maxPages: number;

  constructor(maxEntries = KNOWN_FOOTPRINTS, maxPages = KNOWN_FOOTPRINT_PAGES) {
    this.#maxEntries = maxEntries;
    this.#maxPages = maxPages;
  }

  /** The slice `key`'s footprint (footprintKey), if it is known. */
  get(key: string): KnownFootprint | undefined {
    return this.#entries.get(key);
  }

  /** Footprints held, and the page numbers they hold in all. */
  get size(): number {
    return this.#entries.size;
  }

  get pages(): number {
    return this.#pages;
  }

  /** Remember what the slice `key` took when it last ran through: the newest entry. One larger than the budget is not kept. */
  remember(key: string, need: Uint32Array, writes: Uint32Array): void {
    this.forget(key);
    if (need.length + writes.length > this.#maxPages) return;
    this.#entries.set(key, { need, writes });
    this.#pages += need.length + writes.length;
    while (this.#entries.size > this.#maxEntries || this.#pages > this.#maxPages) {
      this.forget(this.#entries.keys().next().value!);
    }
  }

  /** The slice `key` went elsewhere, or its footprint cannot be fetched: drop what is known. */
  forget(key: string): void {
    const f = this.#entries.get(key);
    if (!f) return;
    this.#entries.delete(key);
    this.#pages -= f.need.length + f.writes.length;
  }
}

/**
 * What a kernel's dispatches on a space leave for its next ones (its footprints here; in
 * src/fault/demand.ts its hot pages and how its second samples went): `make` gives the state of a
 * kernel on a space the first time it is asked for. WeakMaps: the state goes with either.
 */
export function perSpaceKernel<T>(make: () => T): (space: SpaceCore, kernel: Kernel) => T {
  const bySpace = new WeakMap<SpaceCore, WeakMap<Kernel, T>>();
  return (space, kernel) => {
    let byKernel = bySpace.get(space);
    if (!byKernel) bySpace.set(space, (byKernel = new WeakMap()));
    let v = byKernel.get(kernel);
    if (v === undefined) byKernel.set(kernel, (v = make()));
    return v;
  };
}

/** The footprints of `kernel` on `space`. */
export const footprintsOf = perSpaceKernel(() => new KnownFootprints());

/** Anything with join: the dispatch's grid and arguments (arrays or typed arrays). */
interface Joinable {
  join(separator: string): string;
}

/** A slice's key among a kernel's footprints: the dispatch's grid and arguments, and the slice [lo, hi). */
export function footprintKey(grid: Joinable, args: Joinable, lo: number, hi: number): string {
  return `${grid.join(',')}|${lo}-${hi}|${args.join(',')}`;
}
