// Explicit prefetch, like cudaMemPrefetchAsync: the user moves a range ahead
// of its use. A mechanism, not a policy: it runs the migration engine under
// the pool lock, with cause 'prefetch'.
//
// To the device: the range's pages are made resident, evicting other
// unpinned pages (CLOCK, with advice tiers) and never pinned ones. A range
// larger than what can be made free at once (the pool less the pages pinned
// outside the range, less what other memory groups' effective min protects,
// and no more than the max of the space's group or any ancestor allows:
// src/device/groups.ts availableFrames) is not an
// error — a prefetch is a hint — and fetching all of it would only evict its
// own beginning: the pages already resident stay, and the rest are fetched in
// address order as far as they fit; the others are left where they are and
// counted as skipped.
//
// To the host: device-dirty pages are written back, then the device copies
// are dropped (a migration, as cudaMemPrefetchAsync to the CPU does), except
// for pinned pages (they stay resident by contract) and read-mostly pages
// (read duplication: the copy is kept, src/policy/advice.ts).
//
// Races with host writes follow the notifier's protocol inside the engine
// (makeResident and writeBackPages watch the range): a page the host writes
// while its copy is in flight is not installed, and its new host bytes stay
// the valid copy. A prefetch does not retry such pages — the host is writing
// them right now — and counts them as skipped.
//
// Cancellation (the `signal` option, src/lifetime.ts). A prefetch given a
// signal migrates in pieces of ABORT_PIECE_BYTES and looks at the signal
// between two pieces; an abort stops it there, and what the finished pieces
// moved stays where it went — resident pages are valid pages, and pages
// written home are Shared, valid on both sides. So that the pieces add up to
// what one migration of the whole range would leave, the range's chosen pages
// stay Locked (never an eviction victim) from the first piece to the last:
// a later piece cannot evict an earlier one's pages, nor a page of the range
// that was resident already. Without a signal the range moves in one
// migration, as before.

import type { Cancellation } from '../lifetime.ts';
import type { SpaceCore } from '../space/state.ts';
import { PageState } from '../space/page-table.ts';
import { keepOnPrefetchToHost } from '../policy/advice.ts';
import { emptyReport, makeResident, writeBackPages, type MigrationReport } from './migrate.ts';

/**
 * With a signal, a prefetch moves this many bytes (at least a page) between
 * two looks at it: small enough that an abort stops a large prefetch soon
 * (about a millisecond of copying at PCIe speeds), large enough that the
 * copies still coalesce into long runs.
 */
export const ABORT_PIECE_BYTES = 1 << 20;

function piecePages(space: SpaceCore): number {
  return Math.max(1, Math.floor(ABORT_PIECE_BYTES / space.pageSize));
}

/** What `space.prefetch()` did. */
export interface PrefetchResult {
  /** The direction asked for. */
  readonly to: 'device' | 'host';
  /** Pages in the range (every page it touches, whole). */
  readonly pages: number;
  /** Pages copied: host → device, or device → host. */
  readonly pagesCopied: number;
  /** Never-written pages given a zeroed frame (to the device; no copy). */
  readonly pagesCleared: number;
  /** Device copies dropped (to the host). */
  readonly pagesDropped: number;
  /**
   * Pages left out. To the device: not resident at the end (they did not fit,
   * or the host wrote them meanwhile). To the host: still valid only on the device.
   */
  readonly pagesSkipped: number;
  /** Frames taken from other pages to make room (to the device). */
  readonly evictions: number;
}

/** Under the pool lock: make [first, last] resident as far as it fits. */
export async function prefetchToDevice(space: SpaceCore, first: number, last: number, cancel?: Cancellation): Promise<PrefetchResult> {
  const pool = space.pool;
  const t = space.table;
  const count = last - first + 1;
  let residentInside = 0;
  for (let p = first; p <= last; p++) if (t.isResident(p)) residentInside++;
  // Resident pages of the range cost nothing; the others are taken in address order up to what can be freed:
  // the pool less the pins outside the range, less what other memory groups' effective min protects, and
  // within the max of the space's group and of each ancestor. Counting only the pool's pins here made the engine refuse a range its group
  // could not hold (WorkingSetTooLargeError) instead of fetching what fits, as a hint should.
  const range = new Uint32Array(count).map((_, i) => first + i);
  const { available } = pool.groups.availableFrames(space, range);
  let room = available - residentInside;
  const chosen: number[] = [];
  for (let p = first; p <= last; p++) {
    if (t.isResident(p)) chosen.push(p);
    else if (room > 0) {
      chosen.push(p);
      room--;
    }
  }
  const report = emptyReport();
  if (chosen.length > residentInside) {
    if (cancel) await residentInPieces(space, chosen, report, cancel);
    else await makeResident(space, Uint32Array.from(chosen), report, 'prefetch');
    await pool.settleWriteBacks(); // what it evicted reads as host-valid once the prefetch resolves
  }
  let resident = 0;
  for (let p = first; p <= last; p++) if (t.isResident(p)) resident++;
  return {
    to: 'device', pages: count, pagesCopied: report.pagesUploaded, pagesCleared: report.pagesCleared, pagesDropped: 0,
    pagesSkipped: count - resident, evictions: report.evictions,
  };
}

/** makeResident of `chosen` (ascending) piece by piece, looking at `cancel` between pieces (see the header). */
async function residentInPieces(space: SpaceCore, chosen: readonly number[], report: MigrationReport, cancel: Cancellation): Promise<void> {
  const t = space.table;
  const per = piecePages(space);
  for (const p of chosen) t.lock(p);
  try {
    for (let i = 0; i < chosen.length; i += per) {
      if (i > 0 && cancel.aborted) {
        // What the pieces so far evicted reads as host-valid once the prefetch has stopped, as when it resolves.
        await space.pool.settleWriteBacks().catch(() => undefined);
        cancel.check();
      }
      const piece = chosen.slice(i, i + per);
      await makeResident(space, Uint32Array.from(piece), report, 'prefetch');
      for (const p of piece) t.lock(p); // makeResident unlocks its pages when done: they stay locked until the last piece
    }
  } finally {
    for (const p of chosen) t.unlock(p);
  }
}

/** Under the pool lock: write back [first, last]'s device-dirty pages and drop the device copies advice does not keep. */
export async function prefetchToHost(space: SpaceCore, first: number, last: number, cancel?: Cancellation): Promise<PrefetchResult> {
  const t = space.table;
  const dirty: number[] = [];
  for (let p = first; p <= last; p++) if (t.stateOf(p) === PageState.Device) dirty.push(p);
  let copied = 0;
  const per = cancel ? piecePages(space) : Math.max(1, dirty.length);
  for (let i = 0; i < dirty.length; i += per) {
    if (i > 0) cancel?.check(); // pages written home so far are Shared: valid on both sides
    copied += await writeBackPages(space, dirty.slice(i, i + per), 'prefetch');
  }
  // Synchronous from here: nothing can change a page between the check and the drop.
  let dropped = 0;
  let skipped = 0;
  for (let p = first; p <= last; p++) {
    if (t.stateOf(p) === PageState.Device) {
      skipped++;
      continue;
    }
    if (!t.isResident(p) || t.pinsOf(p) > 0 || keepOnPrefetchToHost(t.flagsOf(p))) continue;
    t.dropCopy(p);
    dropped++;
  }
  return { to: 'host', pages: last - first + 1, pagesCopied: copied, pagesCleared: 0, pagesDropped: dropped, pagesSkipped: skipped, evictions: 0 };
}
