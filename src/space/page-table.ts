// The page table of one address space: per-page state as a struct of typed
// arrays (16 bytes a page), the analog of UVM's va_block state. Its arrays are
// private: readers get read-only views, and every change goes through one of
// the named transitions below (as UVM changes a block only through its
// uvm_va_block_* functions), each of which checks the page's invariants in
// development builds (src/dev.ts). `checkInvariants()` checks them all.
//
// Transitions and who calls them (the locking contract: transitions that touch
// frames run under the pool lock — migrate/, fault/ — except the host-write
// path, which is synchronous and synchronizes through the notifier):
//
//   install(p, f)         Unpopulated|Host → Shared, frame f     migrate/ (a migration to the device lands), recover
//   markDeviceDirty(p, s) resident → Device, stamped s           fault/ (a dispatch wrote it)
//   markClean(p)          Device (framed) → Shared               migrate/ (a write-back landed), fault/ (access counters)
//   revertDirty(p)        Device → Shared, InFlight → Host       fault/ journal (the device was lost: results undelivered)
//   beginWriteBack(p)     Device (framed) → InFlight, frame out  migrate/ eviction (the frame goes to another page)
//   landWriteBack(p)      InFlight → Host                        migrate/ (the eviction's copy landed)
//   evictClean(p)         Shared → Host, frame out               migrate/ eviction
//   dropCopy(p)           Shared → Host, frame released         migrate/ (prefetch to host, window given back)
//   relocate(p, f)        resident → same state, frame f         migrate/contiguous.ts (compaction moved its bytes)
//   invalidate(p)         any → Host, frame released            the host-write path (space/host-write.ts)
//   writtenThrough(p)     resident → Shared                      the host-write path (pinned or kept pages)
//   depopulate(p)         Host (no frame) → Unpopulated          free()
//   pin / unpin / dropPins                                       pins (migrate/pin.ts, free, destroy)
//   lock / unlock                                                migrate/ (for one pool-locked operation)
//   setAdvice                                                    advise(), free()
//   countMigration                                               the migration record (migrate/record.ts)
//   resetDevice()         every page: device copy gone          recover (the frame table is new)
//   releaseAll()          every frame released, pins dropped    destroy
//
// A frame leaves a page in one of two ways: released to the pool's frame
// table (`release`, given at construction), or handed to the caller for
// another page (eviction: the caller reassigns it). Every change of a page's
// frame is reported to `onFrameChange` (the device page table's dirty span).

import { assert } from '../assert.ts';
import { DEV } from '../dev.ts';

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
/** A page's state by name, from `space.pageState(addr)`: 'unpopulated' (never written), 'host', 'device' (device-dirty) or 'shared' (valid on both). */
export type PageStateName = (typeof PAGE_STATE_NAMES)[number];

/** Page flag bits (`flags` array). */
export const PageFlag = {
  /** Held by the operation that owns the pool lock: never chosen as an eviction victim (lock/unlock). */
  Locked: 1,
  /**
   * The page's only valid copy is in a readback buffer on its way to the host
   * (an eviction write-back, which nobody waits for: pool.writeBacks): state
   * is Device, frame is NO_FRAME (beginWriteBack). Cleared when the copy lands
   * (landWriteBack), by a host write, whose bytes are newer (invalidate), or
   * when the device was lost (revertDirty, resetDevice). Whoever needs the
   * page — a fault-in, a write-back, a host read — first waits for
   * pool.settleWriteBacks().
   */
  InFlight: 2,
  /**
   * Advice bits (src/policy/advice.ts says what each means to the mechanisms).
   * Changed by setAdvice only (advise() and free()); never both PreferHost and
   * PreferDevice (I5).
   */
  ReadMostly: 4,
  PreferHost: 8,
  PreferDevice: 16,
  AccessedByDevice: 32,
} as const;

/** The advice bits of `flags`. */
export const ADVICE_MASK = PageFlag.ReadMostly | PageFlag.PreferHost | PageFlag.PreferDevice | PageFlag.AccessedByDevice;

export const NO_FRAME = 0xffffffff;

/** Most pins of one page (the count is 16 bits). */
export const MAX_PINS = 0xffff;

/** A typed array a reader may index but not write: the page table's arrays as its readers see them. */
export interface ReadonlyPages {
  readonly [page: number]: number;
  readonly length: number;
}

/**
 * Invariants (checked per page at every transition in development builds, and
 * over the whole table by `checkInvariants`):
 *  I1  resident (state Device|Shared) ⇔ frame ≠ NO_FRAME, except an InFlight page.
 *  I2  InFlight ⇒ state = Device ∧ frame = NO_FRAME   ("device-dirty ⇒ resident or in transit").
 *  I3  pins > 0 ⇒ resident                             ("pinned ⇒ resident, never a victim").
 *  I4  the pool's frame table maps frame[p] back to (this space, p)  — checked by the pool.
 *  I5  not both PreferHost and PreferDevice.
 *  I6  pinnedPages = the number of pages with pins > 0.
 *
 * Besides: `dirtiedBy[p]` is the stamp (newDirtyStamp) of the dispatch or pass
 * that last made p Device, so that a declared dispatch's access counters
 * (fault/access-bits.ts) put back to Shared only pages no later writer dirtied;
 * `toDevice`/`toHost` are saturating per-page migration counts for policies
 * and the ledger.
 */
export class PageTable {
  readonly pageCount: number;
  readonly pageShift: number;
  readonly #state: Uint8Array;
  readonly #flags: Uint8Array;
  readonly #frame: Uint32Array;
  readonly #pins: Uint16Array;
  readonly #toDevice: Uint16Array;
  readonly #toHost: Uint16Array;
  readonly #dirtiedBy: Uint32Array;
  #dirtyEpoch = 0;
  #pinnedPages = 0;
  readonly #release: (frame: number) => void;
  readonly #onFrameChange: (page: number) => void;

  /**
   * `release` gives a frame back to the pool's frame table; `onFrameChange`
   * hears every page whose frame changed (the device page table).
   */
  constructor(pageCount: number, pageShift: number, release: (frame: number) => void = () => {}, onFrameChange: (page: number) => void = () => {}) {
    this.pageCount = pageCount;
    this.pageShift = pageShift;
    this.#state = new Uint8Array(pageCount);
    this.#flags = new Uint8Array(pageCount);
    this.#frame = new Uint32Array(pageCount).fill(NO_FRAME);
    this.#pins = new Uint16Array(pageCount);
    this.#toDevice = new Uint16Array(pageCount);
    this.#toHost = new Uint16Array(pageCount);
    this.#dirtiedBy = new Uint32Array(pageCount);
    this.#release = release;
    this.#onFrameChange = onFrameChange;
  }

  /** Host bytes of page-table state per page (the `metadata` benchmark's figure). */
  static readonly BYTES_PER_PAGE = 1 + 1 + 4 + 2 + 2 + 2 + 4;

  // ---- read-only views ----

  get state(): ReadonlyPages { return this.#state; }
  get flags(): ReadonlyPages { return this.#flags; }
  get frame(): ReadonlyPages { return this.#frame; }
  get pins(): ReadonlyPages { return this.#pins; }
  get toDevice(): ReadonlyPages { return this.#toDevice; }
  get toHost(): ReadonlyPages { return this.#toHost; }
  get dirtiedBy(): ReadonlyPages { return this.#dirtiedBy; }
  /** Pages with pins > 0 (I6). */
  get pinnedPages(): number { return this.#pinnedPages; }

  /** Bytes of the per-page arrays, measured from the arrays themselves (the `metadata` benchmark). */
  byteSize(): number {
    return [this.#state, this.#flags, this.#frame, this.#pins, this.#toDevice, this.#toHost, this.#dirtiedBy].reduce((n, a) => n + a.byteLength, 0);
  }

  /** The page has a frame: a device copy the GPU can use now (an InFlight page has none). */
  isResident(p: number): boolean {
    return this.#frame[p] !== NO_FRAME;
  }

  /** Pages whose host copy is stale and that a host read must bring back. */
  needsWriteback(p: number): boolean {
    return this.#state[p] === PageState.Device;
  }

  isLocked(p: number): boolean {
    return (this.#flags[p]! & PageFlag.Locked) !== 0;
  }

  isInFlight(p: number): boolean {
    return (this.#flags[p]! & PageFlag.InFlight) !== 0;
  }

  countInState(s: PageState, first = 0, end = this.pageCount): number {
    let n = 0;
    for (let p = first; p < end; p++) if (this.#state[p] === s) n++;
    return n;
  }

  /** A fresh stamp for `dirtiedBy` (never 0, which no writer has used). Wraps after 2^32 − 1 writers. */
  newDirtyStamp(): number {
    this.#dirtyEpoch = this.#dirtyEpoch === 0xffffffff ? 1 : this.#dirtyEpoch + 1;
    return this.#dirtyEpoch;
  }

  // ---- transitions (see the header) ----

  /** A migration to the device landed in frame f: the page is valid on both sides. Returns whether it was Unpopulated (cleared, not copied). */
  install(p: number, f: number): boolean {
    const s = this.#state[p]!;
    assert(this.#frame[p] === NO_FRAME && (s === PageState.Unpopulated || s === PageState.Host) && !this.isInFlight(p),
      `install: page ${p} is ${PAGE_STATE_NAMES[s]} with frame ${this.#frame[p]}`);
    this.#frame[p] = f;
    this.#state[p] = PageState.Shared;
    this.#onFrameChange(p);
    if (DEV) this.#check(p);
    return s === PageState.Unpopulated;
  }

  /** A dispatch wrote resident page p. Returns whether it was clean (Shared) before. */
  markDeviceDirty(p: number, stamp: number): boolean {
    assert(this.#frame[p] !== NO_FRAME, `markDeviceDirty: page ${p} has no frame`);
    const clean = this.#state[p] === PageState.Shared;
    this.#state[p] = PageState.Device;
    this.#dirtiedBy[p] = stamp;
    if (DEV) this.#check(p);
    return clean;
  }

  /** The device copy of Device page p equals its host bytes again (written back, or never written). */
  markClean(p: number): void {
    assert(this.#state[p] === PageState.Device && this.#frame[p] !== NO_FRAME, `markClean: page ${p} is not device-dirty with a frame`);
    this.#state[p] = PageState.Shared;
    if (DEV) this.#check(p);
  }

  /**
   * The device was lost before a dispatch's results were delivered: a page it
   * dirtied goes back to its host bytes from before it (in flight: the
   * write-back will never land).
   */
  revertDirty(p: number): void {
    if (this.#state[p] !== PageState.Device) return;
    if (this.isInFlight(p)) {
      this.#flags[p] = this.#flags[p]! & ~PageFlag.InFlight;
      this.#state[p] = PageState.Host;
    } else {
      this.#state[p] = PageState.Shared;
    }
    if (DEV) this.#check(p);
  }

  /** Evict device-dirty page p: its copy is on its way home; returns its frame, which the caller gives to another page. */
  beginWriteBack(p: number): number {
    const f = this.#frame[p]!;
    assert(this.#state[p] === PageState.Device && f !== NO_FRAME && this.#pins[p] === 0, `beginWriteBack: page ${p} is not an unpinned device-dirty page with a frame`);
    this.#frame[p] = NO_FRAME;
    this.#flags[p] = this.#flags[p]! | PageFlag.InFlight;
    this.#onFrameChange(p);
    if (DEV) this.#check(p);
    return f;
  }

  /** The eviction's copy of p landed. Returns false when a host write superseded it meanwhile (its bytes are newer). */
  landWriteBack(p: number): boolean {
    if (!this.isInFlight(p)) return false;
    this.#flags[p] = this.#flags[p]! & ~PageFlag.InFlight;
    this.#state[p] = PageState.Host;
    if (DEV) this.#check(p);
    return true;
  }

  /** Evict clean page p: returns its frame, which the caller gives to another page. */
  evictClean(p: number): number {
    const f = this.#frame[p]!;
    assert(this.#state[p] === PageState.Shared && f !== NO_FRAME && this.#pins[p] === 0, `evictClean: page ${p} is not an unpinned clean page with a frame`);
    this.#frame[p] = NO_FRAME;
    this.#state[p] = PageState.Host;
    this.#onFrameChange(p);
    if (DEV) this.#check(p);
    return f;
  }

  /**
   * Compaction moved resident page p's bytes to frame f (src/migrate/contiguous.ts):
   * same state, new frame. The frame table's ownership moved with it (FrameTable.move):
   * nothing is released here.
   */
  relocate(p: number, f: number): void {
    assert(this.#frame[p] !== NO_FRAME && f !== NO_FRAME && this.#pins[p] === 0, `relocate: page ${p} is not an unpinned page with a frame`);
    this.#frame[p] = f;
    this.#onFrameChange(p);
    if (DEV) this.#check(p);
  }

  /** Drop clean page p's device copy and release its frame. */
  dropCopy(p: number): void {
    const f = this.#frame[p]!;
    assert(this.#state[p] === PageState.Shared && f !== NO_FRAME && this.#pins[p] === 0, `dropCopy: page ${p} is not an unpinned clean page with a frame`);
    this.#frame[p] = NO_FRAME;
    this.#state[p] = PageState.Host;
    this.#release(f);
    this.#onFrameChange(p);
    if (DEV) this.#check(p);
  }

  /**
   * A host write covers p: whatever the device had is stale. The frame is
   * released (a copy in flight home is superseded) and the page is Host.
   * Returns whether a device copy was dropped.
   */
  invalidate(p: number): boolean {
    assert(this.#pins[p] === 0, `invalidate: page ${p} is pinned (pinned pages are written through)`);
    const f = this.#frame[p]!;
    this.#flags[p] = this.#flags[p]! & ~PageFlag.InFlight;
    this.#state[p] = PageState.Host;
    if (f === NO_FRAME) {
      if (DEV) this.#check(p);
      return false;
    }
    this.#frame[p] = NO_FRAME;
    this.#release(f);
    this.#onFrameChange(p);
    if (DEV) this.#check(p);
    return true;
  }

  /** A host write's bytes were copied to resident page p's frame as well: valid on both sides. */
  writtenThrough(p: number): void {
    assert(this.#frame[p] !== NO_FRAME, `writtenThrough: page ${p} has no frame`);
    this.#state[p] = PageState.Shared;
    if (DEV) this.#check(p);
  }

  /** free(): page p (host-only now) reads as zero again. */
  depopulate(p: number): void {
    assert(this.#frame[p] === NO_FRAME && !this.isInFlight(p) && this.#pins[p] === 0, `depopulate: page ${p} still has a device copy or a pin`);
    this.#state[p] = PageState.Unpopulated;
    if (DEV) this.#check(p);
  }

  /** One more pin of resident page p. Returns whether it was unpinned before. */
  pin(p: number): boolean {
    assert(this.#frame[p] !== NO_FRAME && this.#pins[p]! < MAX_PINS, `pin: page ${p} has no frame or ${MAX_PINS} pins`);
    const fresh = this.#pins[p] === 0;
    this.#pins[p]!++;
    if (fresh) this.#pinnedPages++;
    if (DEV) this.#check(p);
    return fresh;
  }

  /** One pin fewer (none below zero). Returns whether that was its last. */
  unpin(p: number): boolean {
    if (this.#pins[p] === 0) return false;
    this.#pins[p]!--;
    const last = this.#pins[p] === 0;
    if (last) this.#pinnedPages--;
    return last;
  }

  /** Every pin of p goes (free, destroy). Returns whether it had any. */
  dropPins(p: number): boolean {
    if (this.#pins[p] === 0) return false;
    this.#pins[p] = 0;
    this.#pinnedPages--;
    return true;
  }

  lock(p: number): void {
    this.#flags[p] = this.#flags[p]! | PageFlag.Locked;
  }

  unlock(p: number): void {
    this.#flags[p] = this.#flags[p]! & ~PageFlag.Locked;
  }

  /** Advice bits of p: clear `clear`, then set `set` (I5 holds when the caller's bits do: advice.ts). */
  setAdvice(p: number, set: number, clear: number): void {
    assert(((set | clear) & ~ADVICE_MASK) === 0, 'setAdvice: not advice bits');
    this.#flags[p] = (this.#flags[p]! & ~clear) | set;
    if (DEV) this.#check(p);
  }

  /** The migration record counts a page that moved (saturating at 65535). */
  countMigration(p: number, direction: 'to-device' | 'to-host'): void {
    const a = direction === 'to-device' ? this.#toDevice : this.#toHost;
    if (a[p]! < 0xffff) a[p]!++;
  }

  /**
   * The pool moved to a new device (recover): every device copy is gone — the
   * frame table is new, nothing is released — and Locked/InFlight end with the
   * old device. Device-only pages keep their (stale) host bytes. Pins and
   * advice stay.
   */
  resetDevice(): void {
    for (let p = 0; p < this.pageCount; p++) {
      const s = this.#state[p]!;
      if (s === PageState.Device || s === PageState.Shared) this.#state[p] = PageState.Host;
      this.#frame[p] = NO_FRAME;
      this.#flags[p] = this.#flags[p]! & ADVICE_MASK;
    }
    this.#onFrameChange(0);
    this.#onFrameChange(this.pageCount - 1);
  }

  /** destroy(): every frame released, every pin dropped; device-only data is lost (callers read it first if they care). */
  releaseAll(): void {
    for (let p = 0; p < this.pageCount; p++) {
      const f = this.#frame[p]!;
      if (f !== NO_FRAME) {
        this.#frame[p] = NO_FRAME;
        this.#release(f);
      }
      this.#pins[p] = 0;
      const s = this.#state[p]!;
      if (s === PageState.Device || s === PageState.Shared) this.#state[p] = PageState.Host;
      this.#flags[p] = this.#flags[p]! & ADVICE_MASK; // advice is about the range, not the frames
    }
    this.#pinnedPages = 0;
  }

  /** Throws (an internal error) naming the first page that breaks an invariant. */
  checkInvariants(): void {
    let pinned = 0;
    for (let p = 0; p < this.pageCount; p++) {
      this.#check(p);
      if (this.#pins[p]! > 0) pinned++;
    }
    assert(pinned === this.#pinnedPages, `${pinned} pages are pinned but the table counts ${this.#pinnedPages} (I6)`);
  }

  /** I1, I2, I3, I5 for page p. */
  #check(p: number): void {
    const s = this.#state[p]!;
    const f = this.#frame[p]!;
    const inflight = (this.#flags[p]! & PageFlag.InFlight) !== 0;
    const resident = s === PageState.Device || s === PageState.Shared;
    assert(s <= PageState.Shared, `page ${p}: unknown state ${s}`);
    if (inflight) {
      assert(s === PageState.Device && f === NO_FRAME, `page ${p}: InFlight but state ${s}, frame ${f} (I2)`);
    } else {
      assert(resident === (f !== NO_FRAME), `page ${p}: state ${PAGE_STATE_NAMES[s]} with frame ${f} (I1)`);
    }
    if (this.#pins[p]! > 0) assert(resident && !inflight, `page ${p}: pinned but ${PAGE_STATE_NAMES[s]} (I3)`);
    const both = PageFlag.PreferHost | PageFlag.PreferDevice;
    assert((this.#flags[p]! & both) !== both, `page ${p}: preferred location both host and device (I5)`);
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
