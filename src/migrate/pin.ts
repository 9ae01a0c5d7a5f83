// Pins: pin_user_pages for device memory. A pinned page is resident and never
// an eviction victim (I3) until every pin of it is dropped. This module is the
// one place pins are taken and given back; the counts themselves are the page
// table's (pins per page, pinned pages per space: the pin/unpin transitions)
// and everything else — the pool's pinned bytes, a memory group's — is summed
// from them, never kept beside them.
//
//   pin(range)    under the pool lock: admission (the pool's pinLimit, the
//                 space's memory group's pin limit: src/device/groups.ts) for
//                 the pages not pinned yet, and the 65535-pins-a-page bound —
//                 refused before anything changes; then the fault-in (again
//                 for pages a host write dropped meanwhile); then one pin per
//                 page; then the write-backs the fault-in started land. If
//                 that wait fails (the device was lost) the pins are given
//                 back: a pin() that fails takes no pin.
//   unpin(range)  host-side accounting only (it works while the device is lost:
//                 recover() refuses a device that cannot hold the pinned pages,
//                 and unpinning is how to go on): every page must be pinned,
//                 or nothing changes.
//   free, destroy drop a range's pins with the allocation (page table dropPins/releaseAll).

import { InvalidArgumentError, NotPinnedError, PinLimitError } from '../errors.ts';
import type { SpaceCore } from '../space/state.ts';
import { MAX_PINS } from '../space/page-table.ts';
import { emptyReport, makeResident } from './migrate.ts';

/** Pin pages [first, last] of `space`; the caller holds the pool lock and has checked the space. */
export async function pinPages(space: SpaceCore, first: number, last: number): Promise<void> {
  const pool = space.pool;
  const t = space.table;
  const ps = space.pageSize;
  let fresh = 0;
  for (let p = first; p <= last; p++) {
    if (t.pinsOf(p) === 0) fresh++;
    else if (t.pinsOf(p) === MAX_PINS) throw new InvalidArgumentError(`pin: page ${p} is pinned ${MAX_PINS} times already; unpin it first`);
  }
  const pinned = pool.pinnedPages;
  if ((pinned + fresh) * ps > pool.pinLimit) throw new PinLimitError(fresh * ps, pinned * ps, pool.pinLimit);
  pool.groups.checkPin(space, fresh);
  const pages = new Uint32Array(last - first + 1).map((_, i) => first + i);
  await makeResident(space, pages, emptyReport(), 'explicit');
  // Pages a host write dropped during the fault-in come again (retry, bounded by the host's own writes).
  while (pages.some((p) => !t.isResident(p))) await makeResident(space, pages, emptyReport(), 'explicit');
  for (const p of pages) t.pin(p);
  try {
    await pool.settleWriteBacks(); // what the fault-in evicted reads as host-valid once pin() resolves
  } catch (e) {
    // The device was lost meanwhile: the pins go back. An unpin() made while this pin was pending (it
    // works while lost) may have dropped one already: unpin never takes a count below zero.
    for (const p of pages) t.unpin(p);
    throw e;
  }
}

/** Drop one pin of each page of [first, last]; every page must be pinned, or nothing changes. */
export function unpinPages(space: SpaceCore, first: number, last: number): void {
  const t = space.table;
  for (let p = first; p <= last; p++) if (t.pinsOf(p) === 0) throw new NotPinnedError(p * space.pageSize);
  for (let p = first; p <= last; p++) t.unpin(p);
}
