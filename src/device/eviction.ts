// Eviction choice: CLOCK (second chance) over the pool's owned frames. A policy
// in the UVM sense: it reads the frame table and a predicate, returns victims,
// and changes nothing but the reference bits and the hand it owns. The pool
// applies the decision (write back dirty victims, drop clean ones).
//
// Clean pages are preferred within one sweep: a dirty victim costs a
// write-back, a clean one costs nothing. The first revolution takes only
// unreferenced clean frames (clearing reference bits as it passes); if that
// did not find enough, a second and third revolution take any unreferenced
// frame. After one full revolution every evictable frame's bit is clear, so
// three revolutions always find every evictable frame.
//
// Tiers (optional, from advice and thrashing holds: src/policy/advice.ts):
// victims come from tier 0 (preferred location host) before tier 1 (the
// rest), and from tier 2 (preferred location device, held against
// thrashing) only when the lower tiers cannot give enough — so those pages
// stay evictable and a working set that fits still completes. Within a tier
// the sweep above runs over that tier's frames only.
//
// Memory groups (groups.ts, group-tree.ts) shape the choice through one more
// predicate, `eligible`, asked before the reference bit (so a protected page
// keeps its bit) and seeing how many frames of each space this call has taken
// so far. A reclaim plan classifies frames by protection: per group, whether
// its next frame is above its effective low (group tier 0), above its
// effective min (group tier 1), or the requester's own protected frames
// (group tier 2), and how many may go before the group, or an ancestor, would
// go under its floor. The group tier is the major order and the advice tier
// the minor one: chooseVictimsInTiers runs one query per group tier (its
// `eligible` asks the plan, its `took` tells the plan), each with the advice
// tiers and CLOCK inside, sharing `chosen`. A plan has one stage per limit the
// request passes (the group's max, an ancestor's, the pool's): the pool runs
// the tiers once per stage, lowest limit first.

import type { FrameTable } from './frames.ts';
import { FREE } from './frames.ts';

export interface VictimQuery {
  /** May this frame's page be evicted at all (not pinned, not locked by the running operation)? */
  evictable(space: number, page: number): boolean;
  /** Is the page's only valid copy on the device (eviction must write it back)? */
  dirty(space: number, page: number): boolean;
  /** The page's eviction tier: 0 first, 1 normal, 2 last resort. Absent: every page is tier 1. */
  tier?(space: number, page: number): number;
  /**
   * Group limits: may one more frame of `space` be taken, given the frames this
   * call has already taken per space (`taken`)? Absent: every space may give.
   */
  eligible?(space: number, taken: ReadonlyMap<number, number>): boolean;
  /**
   * Told of every frame chosen, right when it is chosen (before the next
   * `eligible` question), so a predicate that keeps its own counts (a reclaim
   * plan) sees each choice. chooseVictims only; countEvictable chooses nothing.
   */
  took?(space: number, page: number): void;
}

const TIERS = 3;

/**
 * Choose up to `want` victim frames. `chosen` (one byte per frame) lets several
 * calls for one request share what they took, so none takes a frame twice.
 */
export function chooseVictims(frames: FrameTable, want: number, q: VictimQuery, chosen: Uint8Array = new Uint8Array(frames.frameCount)): number[] {
  const victims: number[] = [];
  if (want <= 0) return victims;
  const n = frames.frameCount;
  const taken = q.eligible ? new Map<number, number>() : undefined;
  if (!q.tier) {
    sweep(frames, want, q, victims, chosen, taken, undefined);
    return victims;
  }
  const tierOf = new Uint8Array(n);
  let present = 0;
  for (let f = 0; f < n; f++) {
    const space = frames.owner[f]!;
    if (space === FREE) continue;
    const t = Math.min(TIERS - 1, Math.max(0, q.tier(space, frames.page[f]!)));
    tierOf[f] = t;
    present |= 1 << t;
  }
  if (present === 1 << 1) {
    sweep(frames, want, q, victims, chosen, taken, undefined);
    return victims;
  }
  for (let t = 0; t < TIERS && victims.length < want; t++) {
    if (present & (1 << t)) sweep(frames, want, q, victims, chosen, taken, (f) => tierOf[f] === t);
  }
  return victims;
}

/**
 * Up to `want` victims from `queries` in order — one per group protection tier
 * (see the header) — each query's own advice tiers and CLOCK within it; later
 * queries are asked only for what earlier ones could not give. One `chosen`
 * for all, so no frame is taken twice.
 */
export function chooseVictimsInTiers(
  frames: FrameTable, want: number, queries: readonly VictimQuery[], chosen: Uint8Array = new Uint8Array(frames.frameCount),
): number[] {
  const victims: number[] = [];
  for (const q of queries) {
    if (victims.length >= want) break;
    for (const f of chooseVictims(frames, want - victims.length, q, chosen)) victims.push(f);
  }
  return victims;
}

/**
 * CLOCK over the frames `only` admits (all when undefined): clean unreferenced first, then any
 * unreferenced. `taken` counts this call's victims per space for the group predicate.
 */
function sweep(
  frames: FrameTable, want: number, q: VictimQuery, victims: number[], chosen: Uint8Array,
  taken: Map<number, number> | undefined, only: ((f: number) => boolean) | undefined,
): void {
  const n = frames.frameCount;
  for (let round = 0; round < 3 && victims.length < want; round++) {
    const cleanOnly = round === 0;
    for (let step = 0; step < n && victims.length < want; step++) {
      const f = frames.hand;
      frames.hand = f + 1 === n ? 0 : f + 1;
      const space = frames.owner[f]!;
      if (space === FREE || chosen[f]) continue;
      if (only && !only(f)) continue;
      const page = frames.page[f]!;
      if (!q.evictable(space, page)) continue;
      if (taken && !q.eligible!(space, taken)) continue;
      if (frames.referenced[f]) {
        frames.unreference(f);
        continue;
      }
      if (cleanOnly && q.dirty(space, page)) continue;
      chosen[f] = 1;
      victims.push(f);
      if (taken) taken.set(space, (taken.get(space) ?? 0) + 1);
      q.took?.(space, page);
    }
  }
}

/** How many owned frames could be evicted at all, group limits included (for the "working set too large" error). */
export function countEvictable(frames: FrameTable, q: VictimQuery): number {
  let c = 0;
  const taken = q.eligible ? new Map<number, number>() : undefined;
  for (let f = 0; f < frames.frameCount; f++) {
    const space = frames.owner[f]!;
    if (space === FREE || !q.evictable(space, frames.page[f]!)) continue;
    if (taken) {
      if (!q.eligible!(space, taken)) continue;
      taken.set(space, (taken.get(space) ?? 0) + 1);
    }
    c++;
  }
  return c;
}
