// The device page table of one address space (the GPU's "TLB"): one u32 PTE
// per page in a storage buffer that the WGSL prelude translates through. The
// host keeps no copy of it: an entry is a function of the page table's frame
// and of the current dispatch's grants, so this module keeps only a dirty span
// and the granted page lists, and `flush()` computes the entries of the span
// and uploads them before the next dispatch of this space (the "shootdown").
// Queue order makes this exact: a dispatch already submitted keeps the entries
// it was submitted with, and every later dispatch sees the flushed ones.
// (A host mirror of the entries cost 4 bytes a page; the page table's budget
// is 16: the `metadata` benchmark.)
//
// PTE layout (src/abi.ts, which the prelude's constants are generated from):
//   bit 31      VALID  the page has a frame (resident)
//   bit 30      READ   the current dispatch may read the page
//   bit 29      WRITE  the current dispatch may write the page
//   bits 0–28   frame number in the pool
// READ/WRITE are granted per dispatch from its declared ranges and revoked
// before the next one, so an access outside the declared ranges is refused.
//
// Up to FLAT_PAGE_TABLE_MAX_PAGES pages (every space of at most 4 GiB) the
// table is one flat array of entries. A larger one is two-level, so it stays
// one binding whatever the space's size (1 TiB of 4 KiB pages would be a
// 1 GiB flat table):
//   words [0, D)       the directory: one word per 2^leafShift pages, the word
//                      offset of that region's leaf, or of the zero leaf
//   words [D, D + L)   the zero leaf: L entries of 0 (no frame), shared by
//                      every region that has no leaf of its own
//   then               leaves of L entries, made at a flush for a region that
//                      has a page with a frame (only touched regions get one)
// A page without a frame has entry 0, granted or not, so a region needs a
// leaf only once a page of it has a frame; the number of leaves is bounded by
// the pool's frames. The buffer grows (doubling, copied on the queue) as
// leaves are made; the prelude reads vm_pt[vm_pt[page >> shift] + page % L].

import { PTE_READ, PTE_VALID, PTE_WRITE } from '../abi.ts';
import { BufferUsage } from '../gpu/constants.ts';
import { markRuntimeBuffer } from '../gpu/runtime-buffers.ts';
import { FLAT_PAGE_TABLE_MAX_PAGES, PAGE_TABLE_LEAF_SHIFT } from '../options.ts';

/** Page table entries computed per writeBuffer call: a 64 KiB scratch array, reused. */
const FLUSH_CHUNK = 16384;
const EMPTY = new Uint32Array(0);
/** Leaves a two-level table has room for at first (each doubling after copies the table once). */
const INITIAL_LEAVES = 16;

type FrameArray = { readonly [page: number]: number; readonly length: number };

export interface GpuPageTableOptions {
  /** log2 of entries per leaf, or 0 for a flat table. Default: flat up to FLAT_PAGE_TABLE_MAX_PAGES pages, else PAGE_TABLE_LEAF_SHIFT. */
  readonly leafShift?: number;
  /**
   * How to read a page's frame when the frame array is not a plain array (a chunked page table's
   * column is a slow proxy): the two-level table's flush and entry() use it.
   */
  readonly frameOf?: (p: number) => number;
}

export class GpuPageTable {
  #buffer: GPUBuffer;
  readonly #device: GPUDevice;
  readonly #label: string;
  /** log2 of entries per leaf of a two-level table; 0 for a flat one (the prelude's glue reads it). */
  readonly leafShift: number;
  /** Two-level: directory entries, and each one's leaf (its index among the leaves), or -1. */
  readonly #dirEntries: number;
  readonly #leafOf: Int32Array | undefined;
  #leaves = 0;
  #leafCapacity = 0;
  #dirWritten = false;
  /** Two-level: directory entries whose region changed since the last flush. */
  readonly #dirtyRegions = new Set<number>();
  /** The page table's frame array (NO_FRAME = 0xffffffff when the page has none): read, never written. */
  readonly #frame: { readonly [page: number]: number; readonly length: number };
  readonly #frameOf: (p: number) => number;
  #lo: number;
  #hi = 0;
  /** Pages given READ (read-only) or READ|WRITE by the current dispatch, ascending; revoked by the next grant. */
  #read: Uint32Array = EMPTY;
  #write: Uint32Array = EMPTY;
  #scratch: Uint32Array | undefined;
  /** Bytes uploaded by flush() so far (for stats). */
  uploadedBytes = 0;

  constructor(device: GPUDevice, frame: FrameArray, label: string, options: GpuPageTableOptions = {}) {
    this.#frame = frame;
    this.#frameOf = options.frameOf ?? ((p: number) => frame[p]!);
    this.#device = device;
    this.#label = label;
    this.#lo = frame.length;
    this.leafShift = options.leafShift ?? (frame.length > FLAT_PAGE_TABLE_MAX_PAGES ? PAGE_TABLE_LEAF_SHIFT : 0);
    if (this.leafShift === 0) {
      this.#dirEntries = 0;
      this.#leafOf = undefined;
      // At least 4 bytes: WebGPU refuses zero-sized storage bindings.
      this.#buffer = this.#make(Math.max(4, frame.length * 4));
    } else {
      this.#dirEntries = Math.ceil(frame.length / (1 << this.leafShift));
      this.#leafOf = new Int32Array(this.#dirEntries).fill(-1);
      this.#leafCapacity = Math.min(this.#dirEntries, INITIAL_LEAVES);
      this.#buffer = this.#make(this.#leafOffset(this.#leafCapacity) * 4);
    }
  }

  /** The buffer the prelude binds as vm_pt: a new one after a two-level table grew (bind groups are made anew). */
  get buffer(): GPUBuffer {
    return this.#buffer;
  }

  #make(size: number): GPUBuffer {
    // Marked: a page table is never a kernel's resource (src/gpu/runtime-buffers.ts).
    return markRuntimeBuffer(this.#device.createBuffer({ label: `${this.#label}:page-table`, size, usage: BufferUsage.STORAGE | BufferUsage.COPY_DST | BufferUsage.COPY_SRC }));
  }

  /** Word offset of leaf k (k = -1: the zero leaf). */
  #leafOffset(k: number): number {
    return this.#dirEntries + ((k + 1) << this.leafShift);
  }

  #touch(p: number): void {
    if (this.#leafOf) {
      this.#dirtyRegions.add(p >>> this.leafShift);
      return;
    }
    if (p < this.#lo) this.#lo = p;
    if (p + 1 > this.#hi) this.#hi = p + 1;
  }

  #touchAll(pages: Uint32Array): void {
    if (pages.length === 0) return;
    if (this.#leafOf) {
      // Every region a granted page lies in (the list is ascending: one add per region).
      let last = -1;
      for (let i = 0; i < pages.length; i++) {
        const d = pages[i]! >>> this.leafShift;
        if (d !== last) this.#dirtyRegions.add((last = d));
      }
      return;
    }
    this.#touch(pages[0]!);
    this.#touch(pages[pages.length - 1]!);
  }

  /** The page's frame changed (set or cleared in the page table): its entry goes out at the next flush. */
  changed(p: number): void {
    this.#touch(p);
  }

  /**
   * Revoke the last dispatch's permissions and grant READ to `read` and
   * READ|WRITE to `write` for this one (each ascending; disjoint).
   */
  grant(read: Uint32Array, write: Uint32Array): void {
    this.#touchAll(this.#read);
    this.#touchAll(this.#write);
    this.#read = read.slice();
    this.#write = write.slice();
    this.#touchAll(this.#read);
    this.#touchAll(this.#write);
  }

  /** The entry of page p as the next flush uploads it (for tests and the isolation checks). */
  entry(p: number): number {
    const f = this.#frameOf(p);
    if (f === 0xffffffff) return 0;
    let e = (PTE_VALID | f) >>> 0;
    if (contains(this.#write, p)) e = (e | PTE_READ | PTE_WRITE) >>> 0;
    else if (contains(this.#read, p)) e = (e | PTE_READ) >>> 0;
    return e;
  }

  flush(queue: GPUQueue): void {
    if (this.#leafOf) {
      this.#flushTwoLevel(queue, this.#leafOf);
      return;
    }
    if (this.#hi <= this.#lo) return;
    const scratch = (this.#scratch ??= new Uint32Array(Math.min(FLUSH_CHUNK, this.#frame.length)));
    let ri = lowerBound(this.#read, this.#lo);
    let wi = lowerBound(this.#write, this.#lo);
    for (let lo = this.#lo; lo < this.#hi; lo += scratch.length) {
      const n = Math.min(scratch.length, this.#hi - lo);
      for (let k = 0; k < n; k++) {
        const f = this.#frame[lo + k]!;
        scratch[k] = f === 0xffffffff ? 0 : (PTE_VALID | f) >>> 0;
      }
      // A granted page without a frame gets no bits: the prelude tests VALID first anyway.
      for (; ri < this.#read.length && this.#read[ri]! < lo + n; ri++) {
        const k = this.#read[ri]! - lo;
        if (scratch[k]) scratch[k] = (scratch[k]! | PTE_READ) >>> 0;
      }
      for (; wi < this.#write.length && this.#write[wi]! < lo + n; wi++) {
        const k = this.#write[wi]! - lo;
        if (scratch[k]) scratch[k] = (scratch[k]! | PTE_READ | PTE_WRITE) >>> 0;
      }
      queue.writeBuffer(this.buffer, lo * 4, scratch, 0, n);
    }
    this.uploadedBytes += (this.#hi - this.#lo) * 4;
    this.#lo = this.#frame.length;
    this.#hi = 0;
  }

  /**
   * Two-level flush: each changed region's entries, computed as in the flat
   * table; a region gets a leaf (and its directory word) once one of its pages
   * has a frame, and keeps it.
   */
  #flushTwoLevel(queue: GPUQueue, leafOf: Int32Array): void {
    if (!this.#dirWritten) {
      // New buffers read as 0: point every directory word at the zero leaf.
      queue.writeBuffer(this.#buffer, 0, new Uint32Array(this.#dirEntries).fill(this.#leafOffset(-1)));
      this.#dirWritten = true;
    }
    if (this.#dirtyRegions.size === 0) return;
    const L = 1 << this.leafShift;
    const scratch = (this.#scratch ??= new Uint32Array(L));
    const n = this.#frame.length;
    const regions = [...this.#dirtyRegions].sort((a, b) => a - b);
    this.#dirtyRegions.clear();
    for (const d of regions) {
      const lo = d * L;
      const count = Math.min(L, n - lo);
      let any = false;
      for (let k = 0; k < count; k++) {
        const f = this.#frameOf(lo + k);
        scratch[k] = f === 0xffffffff ? 0 : (PTE_VALID | f) >>> 0;
        if (f !== 0xffffffff) any = true;
      }
      if (!any && leafOf[d]! < 0) continue; // the zero leaf says it already
      for (let ri = lowerBound(this.#read, lo); ri < this.#read.length && this.#read[ri]! < lo + count; ri++) {
        const k = this.#read[ri]! - lo;
        if (scratch[k]) scratch[k] = (scratch[k]! | PTE_READ) >>> 0;
      }
      for (let wi = lowerBound(this.#write, lo); wi < this.#write.length && this.#write[wi]! < lo + count; wi++) {
        const k = this.#write[wi]! - lo;
        if (scratch[k]) scratch[k] = (scratch[k]! | PTE_READ | PTE_WRITE) >>> 0;
      }
      if (leafOf[d]! < 0) {
        if (this.#leaves === this.#leafCapacity) this.#grow(queue, Math.min(this.#dirEntries, this.#leafCapacity * 2));
        leafOf[d] = this.#leaves++;
        queue.writeBuffer(this.#buffer, d * 4, Uint32Array.of(this.#leafOffset(leafOf[d]!)));
      }
      queue.writeBuffer(this.#buffer, this.#leafOffset(leafOf[d]!) * 4, scratch, 0, count);
      this.uploadedBytes += count * 4;
    }
  }

  /** Room for `leaves` leaves: a larger buffer, the old one's words copied on the queue first. */
  #grow(queue: GPUQueue, leaves: number): void {
    const old = this.#buffer;
    const bytes = this.#leafOffset(this.#leafCapacity) * 4;
    this.#buffer = this.#make(this.#leafOffset(leaves) * 4);
    const enc = this.#device.createCommandEncoder({ label: `${this.#label}:page-table-grow` });
    enc.copyBufferToBuffer(old, 0, this.#buffer, 0, bytes);
    queue.submit([enc.finish()]);
    // Work already submitted keeps the old buffer until it completes.
    old.destroy();
    this.#leafCapacity = leaves;
  }

  /** Leaves a two-level table has made (0 for a flat one): regions that have had a frame. */
  get leafCount(): number {
    return this.#leaves;
  }

  destroy(): void {
    this.#buffer.destroy();
  }
}

/** First index of an ascending array whose value is ≥ x. */
function lowerBound(a: Uint32Array, x: number): number {
  let lo = 0;
  let hi = a.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (a[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function contains(a: Uint32Array, x: number): boolean {
  const i = lowerBound(a, x);
  return i < a.length && a[i] === x;
}
