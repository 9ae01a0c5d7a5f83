// The page table of one address space: per-page state as a struct of typed
// arrays (16 bytes a page), the analog of UVM's va_block state. It holds state
// only; the modules that change each field are named below, and
// `checkInvariants()` verifies the rules (tests call it after every step).

import { assert } from '../assert.ts';

/** Where the valid copy of a page lives. */
export const PageState = {
  /** Never written: reads are zero on both sides; the first device touch clears a frame instead of copying. */
  Unpopulated: 0,
  /** Valid only in host memory. */
  Host: 1,
  /** Valid only on the device ("device-dirty"): the host bytes are stale until migrated back. */
  Device: 2,
  /** Valid and identical on both sides (clean; read duplication). */
  Shared: 3,
} as const;
export type PageState = (typeof PageState)[keyof typeof PageState];
export const PAGE_STATE_NAMES = ['unpopulated', 'host', 'device', 'shared'] as const;
export type PageStateName = (typeof PAGE_STATE_NAMES)[number];

/** Page flag bits (`flags` array). */
export const PageFlag = {
  /** Held by the operation that owns the pool lock: never chosen as an eviction victim. Set/cleared by migrate/. */
  Locked: 1,
  /**
   * The page's only valid copy is in a readback buffer on its way to the host
   * (an eviction write-back, which nobody waits for: pool.writeBacks): state
   * is Device, frame is NO_FRAME. Set by migrate/, cleared by migrate/ when the
   * copy lands or by the host-write path (whose bytes are newer). Whoever needs
   * the page — a fault-in, a write-back, a host read — first waits for
   * pool.settleWriteBacks().
   */
  InFlight: 2,
  /**
   * Advice bits (src/policy/advice.ts says what each means to the mechanisms).
   * Set and cleared by the space's advise() and free() only; never both
   * PreferHost and PreferDevice (I5).
   */
  ReadMostly: 4,
  PreferHost: 8,
  PreferDevice: 16,
  AccessedByDevice: 32,
} as const;

/** The advice bits of `flags`. */
export const ADVICE_MASK = PageFlag.ReadMostly | PageFlag.PreferHost | PageFlag.PreferDevice | PageFlag.AccessedByDevice;

export const NO_FRAME = 0xffffffff;

/**
 * Invariants (checked by `checkInvariants`):
 *  I1  resident (state Device|Shared) ⇔ frame ≠ NO_FRAME, except an InFlight page.
 *  I2  InFlight ⇒ state = Device ∧ frame = NO_FRAME   ("device-dirty ⇒ resident or in transit").
 *  I3  pins > 0 ⇒ resident                             ("pinned ⇒ resident, never a victim").
 *  I4  the pool's frame table maps frame[p] back to (this space, p)  — checked by the pool.
 *  I5  not both PreferHost and PreferDevice.
 *
 * Who writes what:
 *  state, frame   — migrate/ (phases 1–3), notify/ via the space's invalidation (host writes), the space on free();
 *                   fault/ marks pages a dispatch wrote Device (declared: at submit; demand: after the pass
 *                   that wrote them completed and was kept), through the dispatch's DirtyJournal
 *                   (device/loss.ts), which puts them back (Device → Shared, or Host if InFlight) if the
 *                   dispatch failed because the device was lost; SpaceCore.rebind() drops every frame when
 *                   pool.recover() moves to a new device; device/gpu-memory.ts drops the frames of a window
 *                   the pool gives back (out of memory).
 *  flags.Locked   — migrate/ only, for the duration of one pool-locked operation.
 *  flags.InFlight — migrate/ (eviction write-back); cleared by invalidation when a host write supersedes it,
 *                   and by device/loss.ts when the device was lost (the copy will never land).
 *  flags advice   — the space's advise() (user advice) and free() (advice ends with the allocation).
 *  pins           — the space's pin()/unpin() only.
 *  toDevice, toHost — migrate/ finalize (saturating counters for policies and the ledger).
 *  dirtiedBy      — fault/ only, whenever it makes a page Device: a stamp (newDirtyStamp) naming the dispatch
 *                   or pass that did, so that a declared dispatch's access counters (fault/counters.ts) put back
 *                   to Shared only pages that no later writer has dirtied since.
 */
export class PageTable {
  readonly pageCount: number;
  readonly pageShift: number;
  readonly state: Uint8Array;
  readonly flags: Uint8Array;
  readonly frame: Uint32Array;
  readonly pins: Uint16Array;
  readonly toDevice: Uint16Array;
  readonly toHost: Uint16Array;
  readonly dirtiedBy: Uint32Array;
  #dirtyEpoch = 0;

  constructor(pageCount: number, pageShift: number) {
    this.pageCount = pageCount;
    this.pageShift = pageShift;
    this.state = new Uint8Array(pageCount);
    this.flags = new Uint8Array(pageCount);
    this.frame = new Uint32Array(pageCount).fill(NO_FRAME);
    this.pins = new Uint16Array(pageCount);
    this.toDevice = new Uint16Array(pageCount);
    this.toHost = new Uint16Array(pageCount);
    this.dirtiedBy = new Uint32Array(pageCount);
  }

  /** A fresh stamp for `dirtiedBy` (never 0, which no writer has used). Wraps after 2^32 − 1 writers. */
  newDirtyStamp(): number {
    this.#dirtyEpoch = this.#dirtyEpoch === 0xffffffff ? 1 : this.#dirtyEpoch + 1;
    return this.#dirtyEpoch;
  }

  /** Host bytes of page-table state per page (the `metadata` benchmark's figure). */
  static readonly BYTES_PER_PAGE = 1 + 1 + 4 + 2 + 2 + 2 + 4;

  /** The page has a frame: a device copy the GPU can use now (an InFlight page has none). */
  isResident(p: number): boolean {
    return this.frame[p] !== NO_FRAME;
  }

  /** Pages whose host copy is stale and that a host read must bring back. */
  needsWriteback(p: number): boolean {
    return this.state[p] === PageState.Device;
  }

  countInState(s: PageState, first = 0, end = this.pageCount): number {
    let n = 0;
    for (let p = first; p < end; p++) if (this.state[p] === s) n++;
    return n;
  }

  /** Throws (an internal error) naming the first page that breaks an invariant. */
  checkInvariants(): void {
    for (let p = 0; p < this.pageCount; p++) {
      const s = this.state[p]!;
      const f = this.frame[p]!;
      const inflight = (this.flags[p]! & PageFlag.InFlight) !== 0;
      const resident = s === PageState.Device || s === PageState.Shared;
      assert(s <= PageState.Shared, `page ${p}: unknown state ${s}`);
      if (inflight) {
        assert(s === PageState.Device && f === NO_FRAME, `page ${p}: InFlight but state ${s}, frame ${f} (I2)`);
      } else {
        assert(resident === (f !== NO_FRAME), `page ${p}: state ${PAGE_STATE_NAMES[s]} with frame ${f} (I1)`);
      }
      if (this.pins[p]! > 0) assert(resident && !inflight, `page ${p}: pinned but ${PAGE_STATE_NAMES[s]} (I3)`);
      const both = PageFlag.PreferHost | PageFlag.PreferDevice;
      assert((this.flags[p]! & both) !== both, `page ${p}: preferred location both host and device (I5)`);
    }
  }
}

/** Runs of consecutive pages (ascending) as byte ranges. */
export function pageRanges(pages: Iterable<number>, pageSize: number): { addr: number; byteLength: number }[] {
  const out: { addr: number; byteLength: number }[] = [];
  for (const p of pages) {
    const last = out[out.length - 1];
    if (last && last.addr + last.byteLength === p * pageSize) (last as { byteLength: number }).byteLength += pageSize;
    else out.push({ addr: p * pageSize, byteLength: pageSize });
  }
  return out;
}
