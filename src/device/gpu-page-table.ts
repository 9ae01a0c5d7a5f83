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

import { PTE_READ, PTE_VALID, PTE_WRITE } from '../abi.ts';
import { BufferUsage } from '../gpu/constants.ts';
import { markRuntimeBuffer } from '../gpu/runtime-buffers.ts';

/** Page table entries computed per writeBuffer call: a 64 KiB scratch array, reused. */
const FLUSH_CHUNK = 16384;
const EMPTY = new Uint32Array(0);

export class GpuPageTable {
  readonly buffer: GPUBuffer;
  /** The page table's frame array (NO_FRAME = 0xffffffff when the page has none): read, never written. */
  readonly #frame: { readonly [page: number]: number; readonly length: number };
  #lo: number;
  #hi = 0;
  /** Pages given READ (read-only) or READ|WRITE by the current dispatch, ascending; revoked by the next grant. */
  #read: Uint32Array = EMPTY;
  #write: Uint32Array = EMPTY;
  #scratch: Uint32Array | undefined;
  /** Bytes uploaded by flush() so far (for stats). */
  uploadedBytes = 0;

  constructor(device: GPUDevice, frame: { readonly [page: number]: number; readonly length: number }, label: string) {
    this.#frame = frame;
    this.#lo = frame.length;
    // At least 4 bytes: WebGPU refuses zero-sized storage bindings.
    this.buffer = markRuntimeBuffer(device.createBuffer({
      label: `${label}:page-table`,
      size: Math.max(4, frame.length * 4),
      usage: BufferUsage.STORAGE | BufferUsage.COPY_DST,
    }));
  }

  #touch(p: number): void {
    if (p < this.#lo) this.#lo = p;
    if (p + 1 > this.#hi) this.#hi = p + 1;
  }

  #touchAll(pages: Uint32Array): void {
    if (pages.length === 0) return;
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
    const f = this.#frame[p]!;
    if (f === 0xffffffff) return 0;
    let e = (PTE_VALID | f) >>> 0;
    if (contains(this.#write, p)) e = (e | PTE_READ | PTE_WRITE) >>> 0;
    else if (contains(this.#read, p)) e = (e | PTE_READ) >>> 0;
    return e;
  }

  flush(queue: GPUQueue): void {
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

  destroy(): void {
    this.buffer.destroy();
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
