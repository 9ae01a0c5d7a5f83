// The page table of one address space: per-page state as a struct of typed
// arrays (16 bytes a page), the analog of UVM's va_block state. A table of up
// to DENSE_PAGES pages is one dense chunk; a larger one (a space over 4 GiB)
// is a directory of chunks of CHUNK_PAGES pages made on first change, so that
// metadata costs 16 bytes per page of the chunks touched plus 8 bytes a
// directory slot (a 2^40-byte space of 4 KiB pages: 2 MiB of directory). Its
// arrays are private: readers get read-only accessors (stateOf(p), frameOf(p),
// …; forEachTouched for scans), and every change goes through one of
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

import { assert, fail } from '../assert.ts';
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
/**
 * Pages per chunk of a table larger than DENSE_PAGES (16 KiB of metadata a
 * chunk): small enough that pages touched far apart cost little each, large
 * enough that the directory of a 2^40-byte space of 4 KiB pages (2^28 pages)
 * is 2^18 entries.
 */
export const CHUNK_PAGES = 1024;
/**
 * Tables of at most this many pages are one chunk, made at once: the dense
 * layout, whose columns are plain typed arrays (every space of up to 4 GiB
 * with 4 KiB pages; 16 MiB of metadata at most).
 */
export const DENSE_PAGES = 2 ** 20;

/** The metadata of CHUNK_PAGES pages (or of a whole dense table): one ArrayBuffer, 16 bytes a page. */
class Chunk {
  readonly frame: Uint32Array;
  readonly dirtiedBy: Uint32Array;
  readonly pins: Uint16Array;
  readonly toDevice: Uint16Array;
  readonly toHost: Uint16Array;
  readonly state: Uint8Array;
  readonly flags: Uint8Array;
  constructor(n: number, initial: PageState) {
    const b = new ArrayBuffer(16 * n);
    this.frame = new Uint32Array(b, 0, n).fill(NO_FRAME);
    this.dirtiedBy = new Uint32Array(b, 4 * n, n);
    this.pins = new Uint16Array(b, 8 * n, n);
    this.toDevice = new Uint16Array(b, 10 * n, n);
    this.toHost = new Uint16Array(b, 12 * n, n);
    this.state = new Uint8Array(b, 14 * n, n);
    this.flags = new Uint8Array(b, 15 * n, n);
    if (initial !== 0) this.state.fill(initial);
  }
}

type Column = 'state' | 'flags' | 'frame' | 'pins' | 'toDevice' | 'toHost' | 'dirtiedBy';

export interface PageTableOptions {
  /** The state of a page nothing has touched: Unpopulated (reads as zero), or Host for a file-backed space (its bytes are in the file). */
  initial?: PageState;
  /** Pages per chunk when the table has more than `densePages` (tests make it small). Default CHUNK_PAGES. */
  chunkPages?: number;
  /** Most pages of a dense (one-chunk) table. Default DENSE_PAGES. */
  densePages?: number;
}

export class PageTable {
  readonly pageCount: number;
  readonly pageShift: number;
  /** The state of pages in chunks not made yet. */
  readonly initial: PageState;
  /** Chunks by index (page >>> #shift); a missing one: every page in the initial state, no frame, nothing else. */
  readonly #dir: (Chunk | undefined)[];
  /** A dense table's one chunk (the hot paths skip the directory). */
  readonly #dense: Chunk | undefined;
  readonly #shift: number;
  readonly #mask: number;
  readonly #chunkPages: number;
  #chunks = 0;
  #dirtyEpoch = 0;
  #pinnedPages = 0;
  readonly #release: (frame: number) => void;
  readonly #onFrameChange: (page: number) => void;
  /** Read-only views of the columns (for tests and the device page table): see `column`. */
  readonly #views = new Map<Column, ReadonlyPages>();

  /**
   * `release` gives a frame back to the pool's frame table; `onFrameChange`
   * hears every page whose frame changed (the device page table).
   */
  constructor(
    pageCount: number, pageShift: number, release: (frame: number) => void = () => {}, onFrameChange: (page: number) => void = () => {},
    options: PageTableOptions = {},
  ) {
    this.pageCount = pageCount;
    this.pageShift = pageShift;
    this.initial = options.initial ?? PageState.Unpopulated;
    const dense = pageCount <= (options.densePages ?? DENSE_PAGES);
    const cp = dense ? Math.max(1, pageCount) : (options.chunkPages ?? CHUNK_PAGES);
    if (!(dense || (cp & (cp - 1)) === 0)) fail(`page table: chunk of ${cp} pages is not a power of two`);
    this.#shift = dense ? 31 : Math.log2(cp);
    this.#mask = dense ? 0x7fffffff : cp - 1;
    this.#chunkPages = cp;
    this.#dir = new Array<Chunk | undefined>(dense ? 1 : Math.ceil(pageCount / cp));
    this.#dense = dense ? this.#make(0) : undefined;
    this.#release = release;
    this.#onFrameChange = onFrameChange;
  }

  /** Host bytes of page-table state per page (the `metadata` benchmark's figure). */
  static readonly BYTES_PER_PAGE = 1 + 1 + 4 + 2 + 2 + 2 + 4;

  #make(i: number): Chunk {
    const c = new Chunk(Math.min(this.#chunkPages, this.pageCount - i * this.#chunkPages) || 1, this.initial);
    this.#dir[i] = c;
    this.#chunks++;
    return c;
  }

  /** The chunk of page p, made if missing (transitions write through it). */
  #at(p: number): Chunk {
    return this.#dense ?? this.#dir[p >>> this.#shift] ?? this.#make(p >>> this.#shift);
  }

  // ---- reads ----

  stateOf(p: number): PageState {
    const c = this.#dense ?? this.#dir[p >>> this.#shift];
    return (c ? c.state[p & this.#mask]! : this.initial) as PageState;
  }
  flagsOf(p: number): number {
    const c = this.#dense ?? this.#dir[p >>> this.#shift];
    return c ? c.flags[p & this.#mask]! : 0;
  }
  frameOf(p: number): number {
    const c = this.#dense ?? this.#dir[p >>> this.#shift];
    return c ? c.frame[p & this.#mask]! : NO_FRAME;
  }
  pinsOf(p: number): number {
    const c = this.#dense ?? this.#dir[p >>> this.#shift];
    return c ? c.pins[p & this.#mask]! : 0;
  }
  toDeviceOf(p: number): number {
    const c = this.#dense ?? this.#dir[p >>> this.#shift];
    return c ? c.toDevice[p & this.#mask]! : 0;
  }
  toHostOf(p: number): number {
    const c = this.#dense ?? this.#dir[p >>> this.#shift];
    return c ? c.toHost[p & this.#mask]! : 0;
  }
  dirtiedByOf(p: number): number {
    const c = this.#dense ?? this.#dir[p >>> this.#shift];
    return c ? c.dirtiedBy[p & this.#mask]! : 0;
  }

  /**
   * Calls fn(first, end) for each run of pages in [first, end) whose metadata
   * exists (made chunks): pages outside them are in the initial state with
   * nothing else — no frame, pin, flag or count. Loops that look for pages in
   * some other condition visit only these (a 2^40-byte space's scans cost
   * what was touched).
   */
  forEachTouched(first: number, end: number, fn: (first: number, end: number) => void): void {
    const cp = this.#chunkPages;
    for (let i = Math.floor(first / cp), last = Math.floor((end - 1) / cp); i <= last && first < end; i++) {
      if (this.#dir[i] === undefined) continue;
      fn(Math.max(first, i * cp), Math.min(end, (i + 1) * cp));
    }
  }

  /** Pages of [first, end) for which `pred` holds, ascending (only touched pages are tested, so `pred` must be false for untouched ones). */
  pagesWhere(first: number, end: number, pred: (p: number) => boolean): number[] {
    const out: number[] = [];
    this.forEachTouched(first, end, (a, b) => {
      for (let p = a; p < b; p++) if (pred(p)) out.push(p);
    });
    return out;
  }

  /**
   * A column as a read-only indexable view: the typed array itself for a
   * dense table; for a chunked one a (slow) proxy. For tests and the device
   * page table (its flush reads `frame`); the runtime's readers use the
   * `…Of(p)` methods.
   */
  #column(name: Column): ReadonlyPages {
    if (this.#dir.length === 1) return this.#dir[0]![name];
    let v = this.#views.get(name);
    if (!v) {
      const read = {
        state: (p: number) => this.stateOf(p), flags: (p: number) => this.flagsOf(p), frame: (p: number) => this.frameOf(p), pins: (p: number) => this.pinsOf(p),
        toDevice: (p: number) => this.toDeviceOf(p), toHost: (p: number) => this.toHostOf(p), dirtiedBy: (p: number) => this.dirtiedByOf(p),
      }[name];
      const n = this.pageCount;
      v = new Proxy({ length: n } as ReadonlyPages, {
        get(target, key) {
          if (typeof key === 'string') {
            const p = Number(key);
            if (Number.isInteger(p) && p >= 0 && p < n) return read(p);
          }
          return Reflect.get(target, key);
        },
      });
      this.#views.set(name, v);
    }
    return v;
  }

  get state(): ReadonlyPages { return this.#column('state'); }
  get flags(): ReadonlyPages { return this.#column('flags'); }
  get frame(): ReadonlyPages { return this.#column('frame'); }
  get pins(): ReadonlyPages { return this.#column('pins'); }
  get toDevice(): ReadonlyPages { return this.#column('toDevice'); }
  get toHost(): ReadonlyPages { return this.#column('toHost'); }
  get dirtiedBy(): ReadonlyPages { return this.#column('dirtiedBy'); }
  /** Pages with pins > 0 (I6). */
  get pinnedPages(): number { return this.#pinnedPages; }
  /** Chunks made (a dense table: 1). */
  get chunkCount(): number { return this.#chunks; }

  /** Bytes of the per-page metadata, measured from the chunks themselves, plus the directory's slots (the `metadata` benchmark). */
  byteSize(): number {
    let n = this.#dir.length === 1 ? 0 : this.#dir.length * 8;
    for (const c of this.#dir) if (c) n += c.state.buffer.byteLength;
    return n;
  }

  /** The page has a frame: a device copy the GPU can use now (an InFlight page has none). */
  isResident(p: number): boolean {
    return this.frameOf(p) !== NO_FRAME;
  }

  /** Pages whose host copy is stale and that a host read must bring back. */
  needsWriteback(p: number): boolean {
    return this.stateOf(p) === PageState.Device;
  }

  isLocked(p: number): boolean {
    return (this.flagsOf(p) & PageFlag.Locked) !== 0;
  }

  isInFlight(p: number): boolean {
    return (this.flagsOf(p) & PageFlag.InFlight) !== 0;
  }

  countInState(s: PageState, first = 0, end = this.pageCount): number {
    let n = 0;
    let touched = 0;
    this.forEachTouched(first, end, (a, b) => {
      touched += b - a;
      for (let p = a; p < b; p++) if (this.stateOf(p) === s) n++;
    });
    return s === this.initial ? n + (end - first - touched) : n;
  }

  /** A fresh stamp for `dirtiedBy` (never 0, which no writer has used). Wraps after 2^32 − 1 writers. */
  newDirtyStamp(): number {
    this.#dirtyEpoch = this.#dirtyEpoch === 0xffffffff ? 1 : this.#dirtyEpoch + 1;
    return this.#dirtyEpoch;
  }

  // ---- transitions (see the header) ----

  /** A migration to the device landed in frame f: the page is valid on both sides. Returns whether it was Unpopulated (cleared, not copied). */
  install(p: number, f: number): boolean {
    const c = this.#at(p);
    const i = p & this.#mask;
    const s = c.state[i]!;
    if (!(c.frame[i] === NO_FRAME && (s === PageState.Unpopulated || s === PageState.Host) && (c.flags[i]! & PageFlag.InFlight) === 0))
      fail(`install: page ${p} is ${PAGE_STATE_NAMES[s]} with frame ${c.frame[i]}`);
    c.frame[i] = f;
    c.state[i] = PageState.Shared;
    this.#onFrameChange(p);
    if (DEV) this.#check(p);
    return s === PageState.Unpopulated;
  }

  /** A dispatch wrote resident page p. Returns whether it was clean (Shared) before. */
  markDeviceDirty(p: number, stamp: number): boolean {
    const c = this.#at(p);
    const i = p & this.#mask;
    if (!(c.frame[i] !== NO_FRAME)) fail(`markDeviceDirty: page ${p} has no frame`);
    const clean = c.state[i] === PageState.Shared;
    c.state[i] = PageState.Device;
    c.dirtiedBy[i] = stamp;
    if (DEV) this.#check(p);
    return clean;
  }

  /** The device copy of Device page p equals its host bytes again (written back, or never written). */
  markClean(p: number): void {
    const c = this.#at(p);
    const i = p & this.#mask;
    if (!(c.state[i] === PageState.Device && c.frame[i] !== NO_FRAME)) fail(`markClean: page ${p} is not device-dirty with a frame`);
    c.state[i] = PageState.Shared;
    if (DEV) this.#check(p);
  }

  /**
   * The device was lost before a dispatch's results were delivered: a page it
   * dirtied goes back to its host bytes from before it (in flight: the
   * write-back will never land).
   */
  revertDirty(p: number): void {
    if (this.stateOf(p) !== PageState.Device) return;
    const c = this.#at(p);
    const i = p & this.#mask;
    if ((c.flags[i]! & PageFlag.InFlight) !== 0) {
      c.flags[i] = c.flags[i]! & ~PageFlag.InFlight;
      c.state[i] = PageState.Host;
    } else {
      c.state[i] = PageState.Shared;
    }
    if (DEV) this.#check(p);
  }

  /** Evict device-dirty page p: its copy is on its way home; returns its frame, which the caller gives to another page. */
  beginWriteBack(p: number): number {
    const c = this.#at(p);
    const i = p & this.#mask;
    const f = c.frame[i]!;
    if (!(c.state[i] === PageState.Device && f !== NO_FRAME && c.pins[i] === 0)) fail(`beginWriteBack: page ${p} is not an unpinned device-dirty page with a frame`);
    c.frame[i] = NO_FRAME;
    c.flags[i] = c.flags[i]! | PageFlag.InFlight;
    this.#onFrameChange(p);
    if (DEV) this.#check(p);
    return f;
  }

  /** The eviction's copy of p landed. Returns false when a host write superseded it meanwhile (its bytes are newer). */
  landWriteBack(p: number): boolean {
    if (!this.isInFlight(p)) return false;
    const c = this.#at(p);
    const i = p & this.#mask;
    c.flags[i] = c.flags[i]! & ~PageFlag.InFlight;
    c.state[i] = PageState.Host;
    if (DEV) this.#check(p);
    return true;
  }

  /** Evict clean page p: returns its frame, which the caller gives to another page. */
  evictClean(p: number): number {
    const c = this.#at(p);
    const i = p & this.#mask;
    const f = c.frame[i]!;
    if (!(c.state[i] === PageState.Shared && f !== NO_FRAME && c.pins[i] === 0)) fail(`evictClean: page ${p} is not an unpinned clean page with a frame`);
    c.frame[i] = NO_FRAME;
    c.state[i] = PageState.Host;
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
    const c = this.#at(p);
    const i = p & this.#mask;
    if (!(c.frame[i] !== NO_FRAME && f !== NO_FRAME && c.pins[i] === 0)) fail(`relocate: page ${p} is not an unpinned page with a frame`);
    c.frame[i] = f;
    this.#onFrameChange(p);
    if (DEV) this.#check(p);
  }

  /** Drop clean page p's device copy and release its frame. */
  dropCopy(p: number): void {
    const c = this.#at(p);
    const i = p & this.#mask;
    const f = c.frame[i]!;
    if (!(c.state[i] === PageState.Shared && f !== NO_FRAME && c.pins[i] === 0)) fail(`dropCopy: page ${p} is not an unpinned clean page with a frame`);
    c.frame[i] = NO_FRAME;
    c.state[i] = PageState.Host;
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
    const c = this.#at(p);
    const i = p & this.#mask;
    if (!(c.pins[i] === 0)) fail(`invalidate: page ${p} is pinned (pinned pages are written through)`);
    const f = c.frame[i]!;
    c.flags[i] = c.flags[i]! & ~PageFlag.InFlight;
    c.state[i] = PageState.Host;
    if (f === NO_FRAME) {
      if (DEV) this.#check(p);
      return false;
    }
    c.frame[i] = NO_FRAME;
    this.#release(f);
    this.#onFrameChange(p);
    if (DEV) this.#check(p);
    return true;
  }

  /** A host write's bytes were copied to resident page p's frame as well: valid on both sides. */
  writtenThrough(p: number): void {
    const c = this.#at(p);
    const i = p & this.#mask;
    if (!(c.frame[i] !== NO_FRAME)) fail(`writtenThrough: page ${p} has no frame`);
    c.state[i] = PageState.Shared;
    if (DEV) this.#check(p);
  }

  /** free(): page p (host-only now) reads as zero again. */
  depopulate(p: number): void {
    const c = this.#at(p);
    const i = p & this.#mask;
    if (!(c.frame[i] === NO_FRAME && (c.flags[i]! & PageFlag.InFlight) === 0 && c.pins[i] === 0)) fail(`depopulate: page ${p} still has a device copy or a pin`);
    c.state[i] = PageState.Unpopulated;
    if (DEV) this.#check(p);
  }

  /** One more pin of resident page p. Returns whether it was unpinned before. */
  pin(p: number): boolean {
    const c = this.#at(p);
    const i = p & this.#mask;
    if (!(c.frame[i] !== NO_FRAME && c.pins[i]! < MAX_PINS)) fail(`pin: page ${p} has no frame or ${MAX_PINS} pins`);
    const fresh = c.pins[i] === 0;
    c.pins[i]!++;
    if (fresh) this.#pinnedPages++;
    if (DEV) this.#check(p);
    return fresh;
  }

  /** One pin fewer (none below zero). Returns whether that was its last. */
  unpin(p: number): boolean {
    if (this.pinsOf(p) === 0) return false;
    const c = this.#at(p);
    const i = p & this.#mask;
    c.pins[i]!--;
    const last = c.pins[i] === 0;
    if (last) this.#pinnedPages--;
    return last;
  }

  /** Every pin of p goes (free, destroy). Returns whether it had any. */
  dropPins(p: number): boolean {
    if (this.pinsOf(p) === 0) return false;
    this.#at(p).pins[p & this.#mask] = 0;
    this.#pinnedPages--;
    return true;
  }

  lock(p: number): void {
    const c = this.#at(p);
    const i = p & this.#mask;
    c.flags[i] = c.flags[i]! | PageFlag.Locked;
  }

  unlock(p: number): void {
    const c = this.#dir[p >>> this.#shift];
    if (!c) return;
    const i = p & this.#mask;
    c.flags[i] = c.flags[i]! & ~PageFlag.Locked;
  }

  /** Advice bits of p: clear `clear`, then set `set` (I5 holds when the caller's bits do: advice.ts). */
  setAdvice(p: number, set: number, clear: number): void {
    assert(((set | clear) & ~ADVICE_MASK) === 0, 'setAdvice: not advice bits');
    if (set === 0 && this.#dir[p >>> this.#shift] === undefined) return; // clearing untouched pages: nothing to clear
    const c = this.#at(p);
    const i = p & this.#mask;
    c.flags[i] = (c.flags[i]! & ~clear) | set;
    if (DEV) this.#check(p);
  }

  /** The migration record counts a page that moved (saturating at 65535). */
  countMigration(p: number, direction: 'to-device' | 'to-host'): void {
    const c = this.#at(p);
    const a = direction === 'to-device' ? c.toDevice : c.toHost;
    const i = p & this.#mask;
    if (a[i]! < 0xffff) a[i]!++;
  }

  /**
   * The pool moved to a new device (recover): every device copy is gone — the
   * frame table is new, nothing is released — and Locked/InFlight end with the
   * old device. Device-only pages keep their (stale) host bytes. Pins and
   * advice stay.
   */
  resetDevice(): void {
    for (const c of this.#dir) {
      if (!c) continue;
      for (let i = 0; i < c.state.length; i++) {
        const s = c.state[i]!;
        if (s === PageState.Device || s === PageState.Shared) c.state[i] = PageState.Host;
        c.flags[i] = c.flags[i]! & ADVICE_MASK;
      }
      c.frame.fill(NO_FRAME);
    }
    this.#onFrameChange(0);
    this.#onFrameChange(this.pageCount - 1);
  }

  /** destroy(): every frame released, every pin dropped; device-only data is lost (callers read it first if they care). */
  releaseAll(): void {
    for (const c of this.#dir) {
      if (!c) continue;
      for (let i = 0; i < c.state.length; i++) {
        const f = c.frame[i]!;
        if (f !== NO_FRAME) {
          c.frame[i] = NO_FRAME;
          this.#release(f);
        }
        const s = c.state[i]!;
        if (s === PageState.Device || s === PageState.Shared) c.state[i] = PageState.Host;
        c.flags[i] = c.flags[i]! & ADVICE_MASK; // advice is about the range, not the frames
      }
      c.pins.fill(0);
    }
    this.#pinnedPages = 0;
  }

  /** Throws (an internal error) naming the first page that breaks an invariant. */
  checkInvariants(): void {
    let pinned = 0;
    this.forEachTouched(0, this.pageCount, (a, b) => {
      for (let p = a; p < b; p++) {
        this.#check(p);
        if (this.pinsOf(p) > 0) pinned++;
      }
    });
    if (!(pinned === this.#pinnedPages)) fail(`${pinned} pages are pinned but the table counts ${this.#pinnedPages} (I6)`);
  }

  /** I1, I2, I3, I5 for page p. */
  #check(p: number): void {
    const s = this.stateOf(p);
    const f = this.frameOf(p);
    const flags = this.flagsOf(p);
    const inflight = (flags & PageFlag.InFlight) !== 0;
    const resident = s === PageState.Device || s === PageState.Shared;
    if (!(s <= PageState.Shared)) fail(`page ${p}: unknown state ${s}`);
    if (inflight) {
      if (!(s === PageState.Device && f === NO_FRAME)) fail(`page ${p}: InFlight but state ${s}, frame ${f} (I2)`);
    } else {
      if (!(resident === (f !== NO_FRAME))) fail(`page ${p}: state ${PAGE_STATE_NAMES[s]} with frame ${f} (I1)`);
    }
    if (this.pinsOf(p) > 0 && !(resident && !inflight)) fail(`page ${p}: pinned but ${PAGE_STATE_NAMES[s]} (I3)`);
    const both = PageFlag.PreferHost | PageFlag.PreferDevice;
    if (!((flags & both) !== both)) fail(`page ${p}: preferred location both host and device (I5)`);
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
