// The migration engine, in the three phases of Linux's migrate_vma_*:
//
//   1. collect and mark   — pick the pages that must move, lock them against
//                           eviction, watch their range with the notifier;
//   2. allocate and copy  — take frames (evicting CLOCK victims if the pool is
//                           full, or the space's memory group or an ancestor
//                           is at its max, by the groups' protection tiers),
//                           then encode coalesced copies: one command per
//                           run of consecutive pages in consecutive frames, a
//                           clear instead of a copy for unpopulated pages;
//   3. finalize per page  — install the new frame and state page by page,
//                           except for pages a host write invalidated while the
//                           copy was in flight: those keep the host copy and
//                           their frame goes back (the caller's retry loop
//                           collects them again).
//
// Every function here runs under the pool lock (pool.withLock), so only host
// writes (the notifier) and the finalizing of eviction write-backs can
// interleave at an await. Write-backs are not waited for: an evicted dirty
// page is InFlight (device-only data, no frame) until its copy lands, and
// anything that needs such a page first waits for pool.settleWriteBacks().
//
//   evict(victim p):  p InFlight, copy-out submitted ──▶ frame reused by the upload (queue order)
//                                      … map lands ──▶ p still InFlight? host ← bytes, p Host
//   host write to p meanwhile:         clears InFlight, p Host ──▶ the landing copy is ignored
//   fault-in / write-back / read of p: settleWriteBacks() first

import { assert, fail } from '../assert.ts';
import type { VictimQuery } from '../device/eviction.ts';
import type { SpaceCore, SpacePool } from '../space/state.ts';
import { NO_FRAME, PageFlag, PageState } from '../space/page-table.ts';
import { coalesce, type CopyRun } from '../device/coalesce.ts';
import type { Piece } from '../device/transfer.ts';
import type { MigrationCause } from '../events.ts';
import { WRITEBACK_IN_FLIGHT_RINGS } from '../options.ts';
import { noteMigration } from './record.ts';

/** Which pages of a batch a host write invalidated while it was in flight. */
class StaleSet {
  readonly #ranges: [number, number][] = [];
  readonly #pageSize: number;
  constructor(pageSize: number) {
    this.#pageSize = pageSize;
  }
  add(start: number, end: number): void {
    this.#ranges.push([start, end]);
  }
  has(p: number): boolean {
    const a = p * this.#pageSize;
    const b = a + this.#pageSize;
    for (const [s, e] of this.#ranges) if (s < b && a < e) return true;
    return false;
  }
  get empty(): boolean {
    return this.#ranges.length === 0;
  }
}

function watch(space: SpaceCore, firstPage: number, lastPage: number): { stale: StaleSet; remove(): void } {
  const stale = new StaleSet(space.pageSize);
  const sub = space.notifier.subscribe(firstPage * space.pageSize, (lastPage + 1) * space.pageSize, (ev) => stale.add(ev.start, ev.end));
  return { stale, remove: () => sub.remove() };
}

function pieces(runs: readonly CopyRun[], pool: SpacePool): Piece[] {
  const ps = pool.pageSize;
  const wf = pool.frames.windowFrames;
  return runs.map((r) => ({
    hostOffset: r.page * ps,
    window: Math.floor(r.frame / wf),
    windowOffset: (r.frame % wf) * ps,
    byteLength: r.count * ps,
  }));
}

/** May an eviction take page p's frame: not pinned, not Locked by a migration? */
function evictable(t: SpaceCore['table'], p: number): boolean {
  return t.pinsOf(p) === 0 && (t.flagsOf(p) & PageFlag.Locked) === 0;
}

function victimQuery(pool: SpacePool): VictimQuery {
  const q: VictimQuery = {
    evictable: (space, page) => evictable(pool.spaces.get(space)!.table, page),
    dirty(space, page) {
      return pool.spaces.get(space)!.table.stateOf(page) === PageState.Device;
    },
  };
  // Advice and thrashing holds order victims (src/policy/advice.ts); without them every frame is in one tier.
  let tiered = false;
  for (const s of pool.spaces.values()) tiered ||= s.policies.tiered;
  if (!tiered) return q;
  const bySpace = new Map<number, (p: number) => number>();
  return {
    ...q,
    tier(space, page) {
      let f = bySpace.get(space);
      if (!f) bySpace.set(space, (f = pool.spaces.get(space)!.policies.tiers()));
      return f(page);
    },
  };
}

/** Copy the host bytes of `pages` (ascending) into `frames`, by the path the pool's options pick for the size. */
async function upload(space: SpaceCore, pages: readonly number[], frames: readonly number[]): Promise<void> {
  const pool = space.pool;
  const ps2 = space.host.splitPieces(pieces(coalesce(pages, frames, pool.frames.windowFrames), pool));
  if (usesStaging(pool, pages.length * space.pageSize)) await pool.transfer.staging(space.host, ps2);
  else pool.transfer.writeBuffer(space.host, ps2);
}

function usesStaging(pool: SpacePool, bytes: number): boolean {
  const o = pool.options;
  return o.uploadPath === 'staging' || (o.uploadPath === 'auto' && bytes >= o.stagingThreshold);
}

export interface MigrationReport {
  pagesUploaded: number;
  pagesCleared: number;
  bytesUploaded: number;
  evictions: number;
  writebacks: number;
}

export function emptyReport(): MigrationReport {
  return { pagesUploaded: 0, pagesCleared: 0, bytesUploaded: 0, evictions: 0, writebacks: 0 };
}

/**
 * Evict the pages in `victims` (frames): clean pages are dropped at once, dirty
 * ones become InFlight and are copied back without waiting — the copies are
 * submitted before this returns, so uploads into these frames queue after
 * them — and finalized page by page when the copy lands (pool.writeBacks).
 * On return every victim frame still belongs to its old owner in the frame
 * table, detached from its page, ready for `frames.reassign`.
 */
function evict(pool: SpacePool, victims: readonly number[], report: MigrationReport): void {
  const frames = pool.frames;
  // Synchronous from the choice of victims to the submits, so nothing sees a victim half evicted.
  const dirty = new Map<number, { pages: number[]; frames: number[] }>();
  const perSpace = pool.events.active ? new Map<number, number[]>() : undefined;
  for (const f of victims) {
    const space = pool.spaces.get(frames.owner[f]!)!;
    const p = frames.page[f]!;
    const t = space.table;
    if (!(t.frameOf(p) === f)) fail(`victim frame ${f} not mapped by its page`);
    if (t.stateOf(p) === PageState.Device) {
      t.beginWriteBack(p);
      let d = dirty.get(space.id);
      if (!d) dirty.set(space.id, (d = { pages: [], frames: [] }));
      d.pages.push(p);
      d.frames.push(f);
    } else {
      t.evictClean(p);
      pool.counters.evictionDrops++;
    }
    pool.counters.evictions++;
    report.evictions++;
    if (perSpace) {
      let list = perSpace.get(space.id);
      if (!list) perSpace.set(space.id, (list = []));
      list.push(p);
    }
  }
  if (perSpace) {
    for (const [id, list] of perSpace) {
      const n = list.length;
      const w = dirty.get(id)?.pages.length ?? 0;
      pool.events.emit({
        type: 'eviction', time: performance.now(), space: pool.spaces.get(id)!.label, spaceId: id, pages: n, writebacks: w, drops: n - w,
        pageList: Uint32Array.from(list).sort(),
      });
    }
  }
  for (const [id, d] of dirty) {
    const space = pool.spaces.get(id)!;
    const order = d.pages.map((_, i) => i).sort((a, b) => d.pages[a]! - d.pages[b]!);
    const pg = order.map((i) => d.pages[i]!);
    const fr = order.map((i) => d.frames[i]!);
    const t = space.table;
    const ps = space.pageSize;
    const start = pool.events.now();
    pool.counters.evictionWritebacks += pg.length;
    report.writebacks += pg.length;
    const landed = pool.transfer.readbackDetached(pieces(coalesce(pg, fr, frames.windowFrames), pool), (hostOffset, bytes) => {
      for (let off = 0; off < bytes.length; off += ps) {
        const p = (hostOffset + off) / ps;
        // A host write while the copy was in flight cleared InFlight: its bytes are newer.
        if ((t.flagsOf(p) & PageFlag.InFlight) !== 0) space.host.write(hostOffset + off, bytes.subarray(off, off + ps));
      }
    });
    pool.trackWriteBack(landed.then(() => {
      // Finalize page by page: the host copy is now the valid one — unless a host write superseded it.
      const moved: number[] = [];
      for (const p of pg) if (t.landWriteBack(p)) moved.push(p);
      noteMigration({ space, direction: 'to-host', cause: 'eviction', pages: moved, cleared: [], start });
    }));
  }
}

/**
 * Bytes of write-back buffers evicting `victims` (frames) takes: evict() reads
 * each space's device-dirty pages back through buffers of its own, staging-slot
 * sized, so each space's dirty bytes round up to whole slots (counting dirty
 * bytes alone let an eviction over three spaces take two buffers past the cap).
 */
function writeBackBytesOf(pool: SpacePool, victims: readonly number[]): number {
  const frames = pool.frames;
  const perSpace = new Map<number, number>();
  for (const f of victims) {
    const id = frames.owner[f]!;
    const space = pool.spaces.get(id)!;
    if (space.table.stateOf(frames.page[f]!) === PageState.Device) perSpace.set(id, (perSpace.get(id) ?? 0) + space.pageSize);
  }
  const slot = pool.options.stagingSlotSize;
  let bytes = 0;
  for (const d of perSpace.values()) bytes += Math.ceil(d / slot) * slot;
  return bytes;
}

/**
 * Would an eviction whose write-back takes `bytes` (writeBackBytesOf) pass the
 * cap on write-back bytes in flight? Only while some are in flight: waiting for
 * them is what brings the total down. (makeResident evicts in rounds that fit
 * the cap, so one eviction alone never passes it.)
 */
function overWriteBackCap(pool: SpacePool, bytes: number): boolean {
  const inFlight = pool.transfer.detachedBytes;
  return inFlight > 0 && bytes > 0 && inFlight + bytes > writeBackCap(pool);
}

/** Bytes of eviction write-backs that may be in flight at once (WRITEBACK_IN_FLIGHT_RINGS staging rings). */
export function writeBackCap(pool: SpacePool): number {
  const o = pool.options;
  return WRITEBACK_IN_FLIGHT_RINGS * o.stagingSlots * o.stagingSlotSize;
}

/**
 * Before `victims` are evicted (their write-back taking `bytes`,
 * writeBackBytesOf): the wait they need, if any — for earlier
 * write-backs if this one would pass the cap, else for the write-back buffers
 * it needs to be made (out of memory, the pool gives memory back, never the
 * victims' frames). Undefined when none is needed. Not an async function on
 * purpose: awaiting one yields even when it has nothing to wait for, and a
 * host write that runs in that gap may drop a victim's frame (found by the
 * differential fuzzer: a freed frame was "evicted").
 */
function waitBeforeEvicting(pool: SpacePool, victims: readonly number[], bytes: number): Promise<void> | undefined {
  if (overWriteBackCap(pool, bytes)) return pool.settleWriteBacks();
  if (bytes === 0 || pool.transfer.hasDetached(bytes)) return undefined;
  return pool.transfer.reserveDetached(bytes, victims);
}

/** Wait for eviction write-backs in flight if any page of `pages` is still on its way home. */
async function settleInFlight(space: SpaceCore, pages: Iterable<number>): Promise<void> {
  const t = space.table;
  for (const p of pages) {
    if ((t.flagsOf(p) & PageFlag.InFlight) !== 0) {
      await space.pool.settleWriteBacks();
      return;
    }
  }
}

/**
 * Make every page in `pages` (ascending, unique) resident on the device.
 * Pages a host write invalidated during the migration are left non-resident;
 * callers loop until a pass completes with no invalidation (see fault/declared.ts).
 * Pages in `prefetched` are reported with cause 'prefetch' instead of `cause`
 * (density prefetch rides along with a demand fault in one migration).
 */
export async function makeResident(
  space: SpaceCore, pages: Uint32Array, report: MigrationReport, cause: MigrationCause, prefetched?: ReadonlySet<number>,
): Promise<void> {
  const pool = space.pool;
  const t = space.table;
  const frames = pool.frames;
  const ps = space.pageSize;
  const start = pool.events.now();
  // A page evicted a moment ago may still be on its way home: let it land first.
  await settleInFlight(space, pages);

  // ---- phase 1: collect and mark ----
  const need: number[] = [];
  let lockedResident = 0; // resident, unpinned pages of the working set: frames the groups' plan may not take
  for (const p of pages) {
    t.lock(p);
    if (!t.isResident(p)) need.push(p);
    else if (t.pinsOf(p) === 0) lockedResident++;
  }
  try {
    if (need.length === 0) return;
    // The staging ring, if this upload may take it, before any frame is taken: making it may shrink the pool.
    if (usesStaging(pool, need.length * ps)) await pool.transfer.prepare('up');
    pool.check();
    const w = watch(space, need[0]!, need[need.length - 1]!);
    const frameOf = new Uint32Array(need.length).fill(NO_FRAME);
    let finalized = false;
    try {
      // ---- phase 2a: allocate — victims where the memory groups' reclaim plan says (its group's max,
      //      each ancestor's, then the pool's; by protection tier, CLOCK within: src/device/groups.ts),
      //      free frames (as runs) for the rest ----
      const groups = pool.groups;
      const q = victimQuery(pool);
      let assigned = 0; // frameOf[0, assigned) hold frames: free ones taken, or victims of an earlier round
      // Frames a round takes: all the rest, or — when the victims' write-back would take more buffers
      // than the write-back cap — fewer (the cap's worth of pages, then one less until they fit), each
      // round's write-back landing before the next round evicts (waitBeforeEvicting waits for it), so
      // the write-back buffers never hold more than the cap (measured: one 64 MiB chunk's eviction
      // held 64 MiB of them).
      let limit = need.length;
      const capPages = Math.max(1, Math.floor(writeBackCap(pool) / ps));
      for (;;) {
        const want = Math.min(need.length - assigned, limit);
        const chosen = new Uint8Array(frames.frameCount);
        // The frames taken already are the working set's too: the plan may not give them away.
        const reclaim = groups.reclaim(space, want, q, chosen, lockedResident + assigned, pages.length);
        const growable = assigned + want - reclaim.victims.length;
        while (assigned < growable && frames.freeCount > 0) {
          let len = 1;
          while (assigned + len < growable && need[assigned + len] === need[assigned]! + len) len++;
          const [f0, n] = frames.takeRun(len, space.id, need[assigned]!);
          for (let k = 0; k < n; k++) frameOf[assigned + k] = f0 + k;
          assigned += n;
        }
        if (!(assigned === growable)) fail(`reclaim left ${growable - assigned} frames short of free ones`);
        const victims = reclaim.victims;
        if (victims.length > 0) {
          const bytes = writeBackBytesOf(pool, victims);
          if (victims.length > 1 && bytes > writeBackCap(pool)) {
            limit = Math.min(capPages, victims.length - 1);
            continue;
          }
          // Waits belong before the first victim is touched (write-backs over the cap land first; their
          // buffers are made, which out of memory may shrink the pool). Host writes take no pool lock, and
          // one may drop a victim's frame during a wait (found by the differential fuzzer: the dropped
          // frame, already free, was "evicted" and would have been handed out twice), so after any wait
          // victims are chosen again and free frames taken for the rest.
          const wait = waitBeforeEvicting(pool, victims, bytes);
          if (wait) {
            await wait;
            pool.check(); // destroyed (or lost) meanwhile: no eviction, no copy into its windows
            continue;
          }
          reclaim.commit(() => evict(pool, victims, report));
          for (const f of victims) {
            frames.reassign(f, space.id, need[assigned]!);
            frameOf[assigned++] = f;
          }
        }
        if (assigned === need.length) break;
      }

      // ---- phase 2b: encode — clears for unpopulated pages, coalesced copies for the rest ----
      const clearP: number[] = [];
      const clearF: number[] = [];
      const copyP: number[] = [];
      const copyF: number[] = [];
      for (let k = 0; k < need.length; k++) {
        const p = need[k]!;
        const s = t.stateOf(p);
        if (!(s === PageState.Unpopulated || s === PageState.Host)) fail(`page ${p} became resident without the pool lock`);
        if (s === PageState.Unpopulated) {
          clearP.push(p);
          clearF.push(frameOf[k]!);
        } else {
          copyP.push(p);
          copyF.push(frameOf[k]!);
        }
      }
      if (clearP.length > 0) {
        const enc = pool.device.createCommandEncoder({ label: `${space.label}:clear` });
        for (const pc of pieces(coalesce(clearP, clearF, frames.windowFrames), pool)) {
          enc.clearBuffer(pool.windows[pc.window]!, pc.windowOffset, pc.byteLength);
        }
        pool.device.queue.submit([enc.finish()]);
      }
      if (copyP.length > 0) await upload(space, copyP, copyF);

      // ---- phase 3: finalize page by page, then one record per cause (migrate/record.ts) ----
      const copied: number[] = [];
      const zeroed: number[] = [];
      const copiedAhead: number[] = [];
      const zeroedAhead: number[] = [];
      for (let k = 0; k < need.length; k++) {
        const p = need[k]!;
        const f = frameOf[k]!;
        if (w.stale.has(p)) {
          frames.release(f);
          continue;
        }
        const ahead = prefetched?.has(p) === true;
        if (t.install(p, f)) {
          (ahead ? zeroedAhead : zeroed).push(p);
          report.pagesCleared++;
        } else {
          (ahead ? copiedAhead : copied).push(p);
          report.pagesUploaded++;
          report.bytesUploaded += ps;
        }
      }
      finalized = true;
      noteMigration({ space, direction: 'to-device', cause, pages: copied, cleared: zeroed, start });
      noteMigration({ space, direction: 'to-device', cause: 'prefetch', pages: copiedAhead, cleared: zeroedAhead, start });
    } finally {
      w.remove();
      if (!finalized) {
        // Give back the frames of a migration that failed part-way.
        for (let k = 0; k < need.length; k++) {
          const f = frameOf[k]!;
          if (f !== NO_FRAME && frames.owner[f] !== 0 && t.frameOf(need[k]!) !== f) frames.release(f);
        }
      }
    }
  } finally {
    for (const p of pages) t.unlock(p);
  }
}

/**
 * Evict those of `pages` that are resident, unpinned and not Locked, and free
 * their frames; the others are left alone. Returns how many went. A demand
 * dispatch retires the pages a stream has moved past before it submits a pass,
 * so that the next slice's pages can be fetched while that pass runs into free
 * frames only — never evicting a page the running pass may write
 * (src/fault/demand.ts). Device-dirty pages are written back as any
 * eviction's are, at most the write-back cap's worth at once: past it, fewer
 * pages are retired (this is ahead of need; a later fault-in evicts the rest).
 */
export async function retire(space: SpaceCore, pages: readonly number[], report: MigrationReport): Promise<number> {
  const pool = space.pool;
  const t = space.table;
  const capPages = Math.max(1, Math.floor(writeBackCap(pool) / space.pageSize));
  for (;;) {
    let victims: number[] = [];
    for (const p of pages) if (t.isResident(p) && evictable(t, p)) victims.push(t.frameOf(p));
    if (victims.length === 0) return 0;
    let bytes = writeBackBytesOf(pool, victims);
    if (bytes > writeBackCap(pool)) {
      victims = victims.slice(0, capPages);
      bytes = writeBackBytesOf(pool, victims);
    }
    // As in makeResident: a wait may let a host write drop a victim, so they are chosen again after it.
    const wait = waitBeforeEvicting(pool, victims, bytes);
    if (wait) {
      await wait;
      pool.check();
      continue;
    }
    evict(pool, victims, report);
    for (const f of victims) pool.frames.release(f);
    pool.groups.noteEvictions(space, victims.length);
    return victims.length;
  }
}

/**
 * Bring device-only pages in [firstPage, lastPage] back to the host (they
 * become Shared: valid on both sides). Only pages the device dirtied move.
 * Returns the number of pages copied.
 */
export function writeBack(space: SpaceCore, firstPage: number, lastPage: number, cause: MigrationCause = 'explicit'): Promise<number> {
  const t = space.table;
  const pages = t.pagesWhere(firstPage, lastPage + 1, (p) => t.stateOf(p) === PageState.Device);
  return writeBackPages(space, pages, cause);
}

/** writeBack for a list of pages (ascending); pages not device-only are skipped. */
export async function writeBackPages(space: SpaceCore, pages: Iterable<number>, cause: MigrationCause = 'explicit'): Promise<number> {
  const pool = space.pool;
  const t = space.table;
  const ps = space.pageSize;
  const list = [...pages];
  // The read-back ring before the frames are read: making it may shrink the pool.
  if (list.some((p) => t.stateOf(p) === PageState.Device)) await pool.transfer.prepare('down');
  // Pages an eviction is already bringing home: wait for that instead of copying them again.
  await settleInFlight(space, list);
  const pg: number[] = [];
  const fr: number[] = [];
  for (const p of list) {
    if (t.stateOf(p) !== PageState.Device) continue;
    assert((t.flagsOf(p) & PageFlag.InFlight) === 0, 'InFlight page after settling the write-backs');
    pg.push(p);
    fr.push(t.frameOf(p));
  }
  if (pg.length === 0) return 0;
  const start = pool.events.now();
  const w = watch(space, pg[0]!, pg[pg.length - 1]!);
  try {
    await pool.transfer.readback(pieces(coalesce(pg, fr, pool.frames.windowFrames), pool), (hostOffset, bytes) => {
      if (w.stale.empty) {
        space.host.write(hostOffset, bytes); // no host write meanwhile: one copy for the whole piece
        return;
      }
      for (let off = 0; off < bytes.length; off += ps) {
        const p = (hostOffset + off) / ps;
        if (!w.stale.has(p)) space.host.write(hostOffset + off, bytes.subarray(off, off + ps));
      }
    });
  } finally {
    w.remove();
  }
  const moved: number[] = [];
  for (const p of pg) {
    if (w.stale.has(p) || t.stateOf(p) !== PageState.Device) continue;
    t.markClean(p);
    moved.push(p);
  }
  noteMigration({ space, direction: 'to-host', cause, pages: moved, cleared: [], start });
  return moved.length;
}

/**
 * Copy the host bytes of resident pages (ascending) over their device copies:
 * the undo of a rolled-back commit, whose snapshot is the host copy. The pages
 * end Shared. Returns the number of pages copied.
 */
export async function restoreFromHost(space: SpaceCore, pages: Iterable<number>): Promise<number> {
  const t = space.table;
  const list = [...pages];
  if (usesStaging(space.pool, list.length * space.pageSize)) await space.pool.transfer.prepare('up');
  const pg: number[] = [];
  const fr: number[] = [];
  for (const p of list) {
    if (!t.isResident(p)) continue;
    if (!(t.stateOf(p) === PageState.Shared)) fail(`restoreFromHost: page ${p} is not host-valid`);
    pg.push(p);
    fr.push(t.frameOf(p));
  }
  if (pg.length === 0) return 0;
  const start = space.pool.events.now();
  await upload(space, pg, fr);
  // Counted as pages and bytes alike (it used to count only bytes: the record keeps the totals together).
  noteMigration({ space, direction: 'to-device', cause: 'restore', pages: pg, cleared: [], start });
  return pg.length;
}
