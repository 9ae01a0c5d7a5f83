// Access counters for declared dispatches: what the GPU says it touched,
// applied to the page state once the dispatch has completed (UVM's access
// counters, in the one form WebGPU allows: bits the kernel sets itself).
//
// A declared dispatch grants WRITE on its write ranges and, at submit, must
// mark those pages Device: from that moment an eviction may take them and has
// to copy back whatever the kernel writes. The prelude (VM_COUNTERS) sets an
// accessed and a written bit per page as the kernel runs; the bits come back
// with the record the dispatch waits for anyway. Then:
//
//   written bit clear  the kernel did not write the page, so its device copy
//                      still equals the host copy it was uploaded from: the
//                      page goes back to Shared (clean), and an eviction or a
//                      host read copies nothing.
//   accessed bit set   the frame's CLOCK reference bit is set: a real second
//                      chance. A page this dispatch mapped but never touched
//                      loses the bit its fresh frame started with, so it goes
//                      first; a page mapped earlier and not touched now keeps
//                      whatever earlier accesses gave it.
//
// Putting a page back to Shared is exact only if nobody else dirtied it after
// this dispatch's submit: declared dispatches overlap (each releases the pool
// lock at submit), and a demand pass may write the page before this dispatch's
// record is read. So at submit each page this dispatch makes Device gets this
// dispatch's stamp (page table `dirtiedBy`); every writer stamps the pages it
// dirties; and only pages that were clean at submit and still carry this
// dispatch's stamp, still Device with a frame, go back. A page dirty before
// the submit stays dirty: an earlier dispatch may have written it.
//
// Without access counters (pool option `accessCounters: false`) every declared
// page is referenced at submit and every declared-write page stays Device.

import type { SpaceCore } from '../space/state.ts';
import { NO_FRAME, PageState } from '../space/page-table.ts';
import { MAP_ACCESSED, MAP_WRITTEN } from '../abi.ts';
import { counterBit, counterRegions, type RecordRegion } from './records.ts';

/** What a declared dispatch remembers from its submit until its record is back. */
export interface DeclaredMarks {
  /** This dispatch's dirtiedBy stamp. */
  readonly stamp: number;
  /** Write pages that were clean (Shared) when it made them Device. */
  readonly clean: readonly number[];
  /** All declared pages (ascending), and which of them its fault-in mapped (ascending). */
  readonly pages: Uint32Array;
  readonly fresh: readonly number[];
  /** The record regions to read back with the pass (empty without counters). */
  readonly regions: readonly RecordRegion[];
  readonly counters: boolean;
}

/**
 * At submit (synchronous, under the pool lock, pages resident): make the write
 * pages Device with this dispatch's stamp, and set reference bits — all
 * declared pages without counters, none with them (the GPU's bits come later).
 */
export function markDeclared(space: SpaceCore, pages: Uint32Array, writePages: Uint32Array, fresh: readonly number[]): DeclaredMarks {
  const t = space.table;
  const pool = space.pool;
  const counters = pool.options.accessCounters;
  const stamp = t.newDirtyStamp();
  const clean: number[] = [];
  for (const p of writePages) if (t.markDeviceDirty(p, stamp)) clean.push(p);
  if (!counters) for (const p of pages) pool.frames.reference(t.frameOf(p));
  const regions = counters && pages.length > 0 ? counterRegions(pages[0]!, pages[pages.length - 1]!) : [];
  return { stamp, clean, pages, fresh, regions, counters };
}

/**
 * After the dispatch's record is back: apply the GPU's accessed and written
 * bits. Returns the number of write pages put back to Shared.
 */
export function applyCounters(space: SpaceCore, m: DeclaredMarks, rec: Uint32Array): number {
  if (!m.counters || m.pages.length === 0) return 0;
  const t = space.table;
  const frames = space.pool.frames;
  const first = m.pages[0]!;
  for (const p of m.pages) {
    const f = t.frameOf(p);
    if (f !== NO_FRAME && counterBit(rec, first, MAP_ACCESSED, p)) frames.reference(f);
  }
  for (const p of m.fresh) {
    const f = t.frameOf(p);
    if (f !== NO_FRAME && !counterBit(rec, first, MAP_ACCESSED, p)) frames.unreference(f);
  }
  let kept = 0;
  for (const p of m.clean) {
    // Not InFlight either: an InFlight page has no frame (I2), and its write-back is already on its way.
    if (t.dirtiedByOf(p) !== m.stamp || t.stateOf(p) !== PageState.Device || t.frameOf(p) === NO_FRAME) continue;
    if (counterBit(rec, first, MAP_WRITTEN, p)) continue;
    t.markClean(p);
    kept++;
  }
  space.pool.counters.pagesKeptClean += kept;
  return kept;
}
