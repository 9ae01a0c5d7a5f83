// The frame table of a device pool: which frame belongs to which (space, page),
// which are free, how many each space owns (memory groups' accounting), and the
// CLOCK reference bits. Frames are page-sized slots in the pool's windows;
// frame f lives in window f >> windowShift. State only: the pool (pool.ts) is
// the single writer; victim choice is in eviction.ts.

import { assert } from '../assert.ts';

export const FREE = 0;

/**
 * Invariants:
 *  F1  owner[f] = FREE ⇔ f is free (and then page[f] is meaningless).
 *  F2  freeCount = number of free frames.
 *  F3  for an owned frame, the owning space's page table maps page[f] to f (checked by the pool with the spaces).
 *  F4  owned(s) = number of frames f with owner[f] = s (kept by takeRun/reassign/release; groups.ts sums it per group).
 *
 * Who writes what: owner, page and the counts — migrate/ and the spaces (through takeRun/reassign/release
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
    assert(count > 0 && count <= this.#frameCount, `truncate(${count}) of ${this.#frameCount} frames`);
    for (let f = count; f < this.#frameCount; f++) assert(this.#owner[f] === FREE, `truncate: frame ${f} is in use`);
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

  /** Give frame f to (space, page) — used when an evicted frame passes straight to its next owner. */
  reassign(f: number, space: number, page: number): void {
    assert(this.#owner[f] !== FREE, `reassign: frame ${f} is free`);
    this.#count(this.#owner[f]!, -1);
    this.#count(space, 1);
    this.#owner[f] = space;
    this.#page[f] = page;
    this.#referenced[f] = 1;
  }

  release(f: number): void {
    assert(this.#owner[f] !== FREE, `release: frame ${f} is already free`);
    this.#count(this.#owner[f]!, -1);
    this.#owner[f] = FREE;
    this.#referenced[f] = 0;
    this.#freeCount++;
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
    assert(free === this.#freeCount, `frame table: ${free} free frames but freeCount ${this.#freeCount} (F2)`);
    for (let s = 1; s < owned.length; s++) {
      assert(owned[s] === this.#owned[s], `frame table: space ${s} owns ${owned[s]} frames but its count says ${this.#owned[s]} (F4)`);
    }
  }
}
