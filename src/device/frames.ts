// The frame table of a device pool: which frame belongs to which (space, page),
// which are free, how many each space owns (memory groups' accounting), and the
// CLOCK reference bits. Frames are page-sized slots in the pool's windows;
// frame f lives in window f >> windowShift. State only: the pool (pool.ts) is
// the single writer; victim choice is in eviction.ts.
//
// Contiguous runs (zero-translation bindings, src/migrate/contiguous.ts): a
// range bound as one storage binding must sit in consecutive frames of one
// window, as UVM backs a 2 MiB big page with one physically contiguous chunk.
// Frames stay page-sized (no buddy splitting: every other path moves single
// pages); a run is found among them (findFreeRun), or, when the pool is
// fragmented, the window slice cheapest to clear is chosen (cheapestRun) and
// its occupants are moved elsewhere in the device memory in one step (move) —
// compaction, with the frames the range vacates as their destinations.

import { assert, fail } from '../assert.ts';

export const FREE = 0;

/**
 * Invariants:
 *  F1  owner[f] = FREE ⇔ f is free (and then page[f] is meaningless).
 *  F2  freeCount = number of free frames.
 *  F3  for an owned frame, the owning space's page table maps page[f] to f (checked by the pool with the spaces).
 *  F4  owned(s) = number of frames f with owner[f] = s (kept by takeRun/reassign/release; groups.ts sums it per group).
 *
 * Who writes what: owner, page and the counts — migrate/ and the spaces (through takeRun/reassign/release/move
 * only); referenced — these three (a new owner starts referenced), eviction.ts (the hand clears it) and
 * fault/ (the GPU's accessed bits, or every declared page when access counters are off).
 */
export class FrameTable {
  /** Frames in use by the pool: all of them, until an out-of-memory shrink retires the last window's (truncate). */
  #frameCount: number;
  /** Frames per window, a power of two: runs never cross a window. */
  readonly windowFrames: number;
  readonly #owner: Uint16Array;
  readonly #page: Uint32Array;
  readonly #referenced: Uint8Array;
  /** Frames owned per space id (F4); grown as space ids appear. */
  #owned = new Uint32Array(16);
  #freeCount: number;
  #cursor = 0;
  hand = 0;

  constructor(frameCount: number, windowFrames: number) {
    this.#frameCount = frameCount;
    this.windowFrames = windowFrames;
    this.#owner = new Uint16Array(frameCount);
    this.#page = new Uint32Array(frameCount);
    this.#referenced = new Uint8Array(frameCount);
    this.#freeCount = frameCount;
  }

  /** Owning space id (1-based), FREE when free. Read-only: frames change owner through takeRun/reassign/release. */
  get owner(): { readonly [frame: number]: number } { return this.#owner; }
  /** Page number within the owning space. */
  get page(): { readonly [frame: number]: number } { return this.#page; }
  /** CLOCK reference bit: set when a dispatch uses the frame (reference), cleared as the hand passes (unreference). */
  get referenced(): { readonly [frame: number]: number } { return this.#referenced; }

  /** The GPU used frame f (or a dispatch mapped it, without access counters): a second chance. */
  reference(f: number): void {
    this.#referenced[f] = 1;
  }

  /** The CLOCK hand passed f, or a dispatch that mapped it did not touch it: no second chance. */
  unreference(f: number): void {
    this.#referenced[f] = 0;
  }

  get frameCount(): number {
    return this.#frameCount;
  }

  get freeCount(): number {
    return this.#freeCount;
  }

  /** Retire frames [count, frameCount) — all free — for good: the pool gave their window back (src/device/buffer-alloc.ts). */
  truncate(count: number): void {
    if (!(count > 0 && count <= this.#frameCount)) fail(`truncate(${count}) of ${this.#frameCount} frames`);
    for (let f = count; f < this.#frameCount; f++) if (!(this.#owner[f] === FREE)) fail(`truncate: frame ${f} is in use`);
    this.#freeCount -= this.#frameCount - count;
    this.#frameCount = count;
    if (this.#cursor >= count) this.#cursor = 0;
    if (this.hand >= count) this.hand = 0;
  }

  /**
   * Take up to `want` free frames as one run of consecutive frames inside one
   * window (so a run of pages can move in one copy). Next fit from a cursor.
   * Returns [first, count], count 0 when no frame is free.
   */
  takeRun(want: number, space: number, firstPage: number): [number, number] {
    assert(want > 0 && space !== FREE, 'takeRun: bad arguments');
    if (this.#freeCount === 0) return [0, 0];
    const n = this.frameCount;
    let f = this.#cursor;
    for (let scanned = 0; scanned < n; scanned++, f = f + 1 === n ? 0 : f + 1) {
      if (this.#owner[f] !== FREE) continue;
      const windowEnd = (Math.floor(f / this.windowFrames) + 1) * this.windowFrames;
      const limit = Math.min(n, windowEnd, f + want);
      let e = f;
      while (e < limit && this.#owner[e] === FREE) {
        this.#owner[e] = space;
        this.#page[e] = firstPage + (e - f);
        this.#referenced[e] = 1;
        e++;
      }
      this.#freeCount -= e - f;
      this.#count(space, e - f);
      this.#cursor = e === n ? 0 : e;
      return [f, e - f];
    }
    assert(false, 'freeCount > 0 but no free frame found');
  }

  /**
   * Start the next takeRun's search at frame f: a caller that found a free run
   * (findFreeRun) and faults in exactly that many consecutive pages next gets
   * them in that run (src/fault/bound.ts places a cold bound range so).
   */
  seek(f: number): void {
    if (!(f >= 0 && f < this.#frameCount)) fail(`seek(${f}) of ${this.#frameCount} frames`);
    this.#cursor = f;
  }

  /** Give frame f to (space, page) — used when an evicted frame passes straight to its next owner. */
  reassign(f: number, space: number, page: number): void {
    if (!(this.#owner[f] !== FREE)) fail(`reassign: frame ${f} is free`);
    this.#count(this.#owner[f]!, -1);
    this.#count(space, 1);
    this.#owner[f] = space;
    this.#page[f] = page;
    this.#referenced[f] = 1;
  }

  release(f: number): void {
    if (!(this.#owner[f] !== FREE)) fail(`release: frame ${f} is already free`);
    this.#count(this.#owner[f]!, -1);
    this.#owner[f] = FREE;
    this.#referenced[f] = 0;
    this.#freeCount++;
  }

  /**
   * The first run of `count` free frames inside one window, or -1 (none: the
   * pool is full or fragmented). From the start of the pool: a run found for
   * a binding stays put across dispatches, so the lower frames fill first.
   */
  findFreeRun(count: number, windowOk: (w: number) => boolean = () => true): number {
    if (!(count > 0 && count <= this.windowFrames)) fail(`findFreeRun(${count}) with windows of ${this.windowFrames} frames`);
    if (this.#freeCount < count) return -1;
    let len = 0;
    for (let f = 0; f < this.#frameCount; f++) {
      if (f % this.windowFrames === 0) {
        len = 0;
        if (!windowOk(f / this.windowFrames)) {
          f += this.windowFrames - 1;
          continue;
        }
      }
      len = this.#owner[f] === FREE ? len + 1 : 0;
      if (len === count) return f - count + 1;
    }
    return -1;
  }

  /**
   * The start of the run of `count` frames inside one window that costs the
   * fewest page moves to make the caller's: `occupied(f)` is 0 for a frame
   * whose page moves anyway (the caller's own), 1 for another page that would
   * have to move out, Infinity for one that may not move (pinned, or held by
   * the operation); free frames cost 0. `inPlace(start)` is how many of the
   * caller's pages already sit where a run at `start` wants them (saved
   * moves). Only windows `windowOk` accepts are looked at. Returns -1 when
   * every run holds an immovable frame. O(frames).
   */
  cheapestRun(count: number, occupied: (f: number) => number, inPlace: (start: number) => number, windowOk: (w: number) => boolean = () => true): number {
    if (!(count > 0 && count <= this.windowFrames)) fail(`cheapestRun(${count}) with windows of ${this.windowFrames} frames`);
    const n = this.#frameCount;
    const cost = new Float64Array(n);
    for (let f = 0; f < n; f++) cost[f] = this.#owner[f] === FREE ? 0 : occupied(f);
    let best = -1;
    let bestCost = Infinity;
    for (let w0 = 0; w0 + count <= n; w0 += this.windowFrames) {
      if (!windowOk(w0 / this.windowFrames)) continue;
      const wEnd = Math.min(n, w0 + this.windowFrames);
      let sum = 0;
      let blocked = 0;
      for (let f = w0; f < wEnd; f++) {
        if (cost[f] === Infinity) blocked++;
        else sum += cost[f]!;
        const s = f - count + 1;
        if (s > w0) {
          const out = cost[s - 1]!;
          if (out === Infinity) blocked--;
          else sum -= out;
        }
        if (s < w0 || blocked > 0) continue;
        // Moves: the others' pages out, plus the caller's pages not yet in place.
        const c = sum + count - inPlace(s);
        if (c < bestCost) {
          bestCost = c;
          best = s;
          if (c === 0) return best;
        }
      }
    }
    return best;
  }

  /**
   * Compaction's bookkeeping: each move gives frame `to` the owner, page and
   * reference bit frame `from` had, all at once (a swap is two moves). A
   * `from` that is no move's `to` ends free; every `to` must be free or some
   * move's `from`. The caller has copied the bytes (queue order) and moves
   * the pages' frames in their page tables (PageTable.relocate).
   */
  move(moves: readonly { readonly from: number; readonly to: number }[]): void {
    const taken = moves.map(({ from }) => {
      const o = this.#owner[from]!;
      if (!(o !== FREE)) fail(`move: frame ${from} is free`);
      return { owner: o, page: this.#page[from]!, referenced: this.#referenced[from]! };
    });
    for (const { from } of moves) {
      if (!(this.#owner[from] !== FREE)) fail(`move: frame ${from} is the source of two moves`);
      this.#count(this.#owner[from]!, -1);
      this.#owner[from] = FREE;
      this.#referenced[from] = 0;
      this.#freeCount++;
    }
    moves.forEach(({ to }, i) => {
      const t = taken[i]!;
      if (!(to < this.#frameCount && this.#owner[to] === FREE)) fail(`move: frame ${to} is not free for its new page`);
      this.#owner[to] = t.owner;
      this.#page[to] = t.page;
      this.#referenced[to] = t.referenced;
      this.#freeCount--;
      this.#count(t.owner, 1);
    });
  }

  #count(space: number, delta: number): void {
    if (space >= this.#owned.length) {
      const grown = new Uint32Array(Math.max(space + 1, this.#owned.length * 2));
      grown.set(this.#owned);
      this.#owned = grown;
    }
    this.#owned[space]! += delta;
  }

  /** Frames owned by `space` now (F4). */
  ownedCount(space: number): number {
    return space < this.#owned.length ? this.#owned[space]! : 0;
  }

  checkInvariants(): void {
    let free = 0;
    const owned = new Uint32Array(this.#owned.length);
    for (let f = 0; f < this.frameCount; f++) {
      const o = this.#owner[f]!;
      if (o === FREE) free++;
      else owned[o]!++;
    }
    if (!(free === this.#freeCount)) fail(`frame table: ${free} free frames but freeCount ${this.#freeCount} (F2)`);
    for (let s = 1; s < owned.length; s++) {
      if (!(owned[s] === this.#owned[s])) fail(`frame table: space ${s} owns ${owned[s]} frames but its count says ${this.#owned[s]} (F4)`);
    }
  }
}
