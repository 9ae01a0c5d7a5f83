// Advice per range, like cudaMemAdvise: what the user knows about how a range
// is used, kept as bits in the page table's `flags` (set by space.advise(),
// cleared when the allocation is freed) and turned into decisions here by
// pure functions the mechanisms call. Nothing here changes state.
//
// What each advice means in this runtime, and why:
//
//  readMostly    Read duplication. This runtime already duplicates on every
//                read: host memory is the backing store and is never freed, so
//                a device read leaves a page Shared (valid on both sides) and a
//                host read of a device-dirty page writes it back and leaves it
//                Shared too. What read-mostly adds is that duplicates are kept
//                where the runtime would otherwise migrate: prefetch(to:'host')
//                keeps the device copy instead of dropping it, and a host write
//                always invalidates the device copies (it never writes through
//                for preferredLocation/accessedBy/thrashing), while a device
//                write collapses the page to one copy (Device) as ever.
//  preferredLocation 'host'
//                The page lives on the host; the device borrows it. WebGPU
//                cannot map host memory into a shader, so a device access
//                still migrates it (UVM would map it remotely), but eviction
//                takes these pages before any other (tier 0), density prefetch
//                never fetches them, and thrashing never holds them.
//  preferredLocation 'device'
//                The page lives on the device: eviction takes it only when
//                nothing else can be evicted (tier 2, like a thrashing page; it
//                is not a pin and does not count against the pin limit, so the
//                progress guarantee holds), a host read copies it back and
//                keeps the device copy (Shared), and a host write to a resident
//                page is written through to its frame instead of dropping it.
//  accessedBy 'device'
//                The device keeps using the data after the host changes it.
//                WebGPU has no remote mappings, so this cannot mean "map it
//                wherever it is"; here it means the device copy of a resident
//                page is kept current through host writes (written through,
//                like a pinned page), so the next dispatch does not fault on it.
//                Pages not resident are left alone.

import { InvalidArgumentError } from '../errors.ts';
import { PageFlag } from '../space/page-table.ts';

/** Where a page should live, like cudaMemAdviseSetPreferredLocation (see {@link Advice.preferredLocation}). */
export type PreferredLocation = 'host' | 'device' | 'none';
/** Whether the device keeps using a page after host writes, like cudaMemAdviseSetAccessedBy (see {@link Advice.accessedBy}). */
export type AccessedBy = 'device' | 'none';

/** Advice for space.advise(): one or more of the keys; the others are left as they are. */
export interface Advice {
  /** Keep duplicates: prefetch to the host keeps the device copy, and a host write always invalidates device copies (never writes through). */
  readonly readMostly?: boolean;
  /** `'host'`: evicted first, never density-prefetched or held by thrashing; `'device'`: evicted last, host reads keep the device copy, host writes to resident pages are written through; `'none'`: no preference. */
  readonly preferredLocation?: PreferredLocation;
  /** `'device'`: the device copy of a resident page is kept current through host writes (written through), so the next dispatch does not fault on it; `'none'`: no such promise. */
  readonly accessedBy?: AccessedBy;
}

/** The advice in force on one page. */
export interface AdviceState {
  /** Read-mostly advice is set (see {@link Advice.readMostly}). */
  readonly readMostly: boolean;
  /** The preferred location in force (`'none'` when not advised). */
  readonly preferredLocation: PreferredLocation;
  /** The accessed-by advice in force (`'none'` when not advised). */
  readonly accessedBy: AccessedBy;
}

/** Eviction tiers: victims come from lower tiers first, CLOCK order within a tier (src/device/eviction.ts). */
export const Tier = { First: 0, Normal: 1, LastResort: 2 } as const;

/** The flag bits to set and to clear for `advice`; throws InvalidArgumentError naming the fix. */
export function adviceBits(advice: unknown): { set: number; clear: number } {
  const shape = `pass { readMostly?: boolean, preferredLocation?: 'host' | 'device' | 'none', accessedBy?: 'device' | 'none' }`;
  if (typeof advice !== 'object' || advice === null) throw new InvalidArgumentError(`advise: ${shape}, got ${String(advice)}`);
  const a = advice as Record<string, unknown>;
  const keys = Object.keys(a);
  for (const k of keys) {
    if (k !== 'readMostly' && k !== 'preferredLocation' && k !== 'accessedBy') throw new InvalidArgumentError(`advise: unknown advice "${k}"; ${shape}`);
  }
  if (keys.length === 0) throw new InvalidArgumentError(`advise: no advice given; ${shape}`);
  let set = 0;
  let clear = 0;
  if (a['readMostly'] !== undefined) {
    if (typeof a['readMostly'] !== 'boolean') throw new InvalidArgumentError(`advise: readMostly must be true or false, got ${String(a['readMostly'])}`);
    if (a['readMostly']) set |= PageFlag.ReadMostly;
    else clear |= PageFlag.ReadMostly;
  }
  const loc = a['preferredLocation'];
  if (loc !== undefined) {
    if (loc !== 'host' && loc !== 'device' && loc !== 'none') {
      throw new InvalidArgumentError(`advise: preferredLocation must be 'host', 'device' or 'none', got ${String(loc)}`);
    }
    clear |= PageFlag.PreferHost | PageFlag.PreferDevice;
    if (loc === 'host') set |= PageFlag.PreferHost;
    if (loc === 'device') set |= PageFlag.PreferDevice;
  }
  const by = a['accessedBy'];
  if (by !== undefined) {
    if (by !== 'device' && by !== 'none') throw new InvalidArgumentError(`advise: accessedBy must be 'device' or 'none', got ${String(by)}`);
    if (by === 'device') set |= PageFlag.AccessedByDevice;
    else clear |= PageFlag.AccessedByDevice;
  }
  return { set, clear: clear & ~set };
}

export function adviceOf(flags: number): AdviceState {
  return {
    readMostly: (flags & PageFlag.ReadMostly) !== 0,
    preferredLocation: flags & PageFlag.PreferHost ? 'host' : flags & PageFlag.PreferDevice ? 'device' : 'none',
    accessedBy: flags & PageFlag.AccessedByDevice ? 'device' : 'none',
  };
}

/** Which eviction tier a page is in, from its advice and whether thrashing holds it on the device. */
export function evictionTier(flags: number, held: boolean): number {
  if (flags & PageFlag.PreferHost) return Tier.First;
  if (flags & PageFlag.PreferDevice || held) return Tier.LastResort;
  return Tier.Normal;
}

/**
 * A host write to a resident, unpinned page: keep the device copy and write
 * the new bytes through to it (true), or drop it (false, the default).
 */
export function writeThroughOnHostWrite(flags: number, held: boolean): boolean {
  if (flags & (PageFlag.ReadMostly | PageFlag.PreferHost)) return false;
  return (flags & (PageFlag.PreferDevice | PageFlag.AccessedByDevice)) !== 0 || held;
}

/** May density prefetch bring this page to the device unasked? */
export function prefetchAllowed(flags: number): boolean {
  return (flags & PageFlag.PreferHost) === 0;
}

/** May thrashing mitigation hold this page on the device? */
export function holdAllowed(flags: number): boolean {
  return (flags & PageFlag.PreferHost) === 0;
}

/** prefetch(to: 'host'): keep the device copy (a read duplicate) instead of dropping it. */
export function keepOnPrefetchToHost(flags: number): boolean {
  return (flags & PageFlag.ReadMostly) !== 0;
}
