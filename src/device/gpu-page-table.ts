// The device page table of one address space (the GPU's "TLB"): one u32 PTE
// per page in a storage buffer that the WGSL prelude translates through. The
// host keeps a mirror and a dirty span; `flush()` uploads the span before the
// next dispatch of this space (the "shootdown"). Queue order makes this exact:
// a dispatch already submitted keeps the entries it was submitted with, and
// every later dispatch sees the flushed ones.
//
// PTE layout (matches shaders/prelude.wgsl):
//   bit 31      VALID  the page has a frame (resident)
//   bit 30      READ   the current dispatch may read the page
//   bit 29      WRITE  the current dispatch may write the page
//   bits 0–28   frame number in the pool
// READ/WRITE are granted per dispatch from its declared ranges and revoked
// before the next one, so an access outside the declared ranges is refused.

import { BufferUsage } from '../gpu/constants.ts';

export const PTE_VALID = 0x8000_0000;
export const PTE_READ = 0x4000_0000;
export const PTE_WRITE = 0x2000_0000;
export const PTE_FRAME_MASK = 0x1fff_ffff;

export class GpuPageTable {
  readonly buffer: GPUBuffer;
  readonly mirror: Uint32Array;
  #lo: number;
  #hi = 0;
  /** Pages given READ/WRITE by the last dispatch, revoked before the next. */
  #granted: Uint32Array = new Uint32Array(0);
  /** Bytes uploaded by flush() so far (for stats). */
  uploadedBytes = 0;

  constructor(device: GPUDevice, pageCount: number, label: string) {
    this.mirror = new Uint32Array(pageCount);
    this.#lo = pageCount;
    // At least 4 bytes: WebGPU refuses zero-sized storage bindings.
    this.buffer = device.createBuffer({
      label: `${label}:page-table`,
      size: Math.max(4, pageCount * 4),
      usage: BufferUsage.STORAGE | BufferUsage.COPY_DST,
    });
  }

  #touch(p: number): void {
    if (p < this.#lo) this.#lo = p;
    if (p + 1 > this.#hi) this.#hi = p + 1;
  }

  map(p: number, frame: number): void {
    this.mirror[p] = (PTE_VALID | frame) >>> 0;
    this.#touch(p);
  }

  unmap(p: number): void {
    if (this.mirror[p] === 0) return;
    this.mirror[p] = 0;
    this.#touch(p);
  }

  /** Revoke the last dispatch's permissions and grant READ/WRITE for this one's pages. */
  grant(read: Uint32Array, write: Uint32Array): void {
    for (const p of this.#granted) {
      this.mirror[p] = (this.mirror[p]! & ~(PTE_READ | PTE_WRITE)) >>> 0;
      this.#touch(p);
    }
    for (const p of read) {
      this.mirror[p] = (this.mirror[p]! | PTE_READ) >>> 0;
      this.#touch(p);
    }
    for (const p of write) {
      this.mirror[p] = (this.mirror[p]! | PTE_READ | PTE_WRITE) >>> 0;
      this.#touch(p);
    }
    const all = new Uint32Array(read.length + write.length);
    all.set(read);
    all.set(write, read.length);
    this.#granted = all;
  }

  flush(queue: GPUQueue): void {
    if (this.#hi <= this.#lo) return;
    queue.writeBuffer(this.buffer, this.#lo * 4, this.mirror, this.#lo, this.#hi - this.#lo);
    this.uploadedBytes += (this.#hi - this.#lo) * 4;
    this.#lo = this.mirror.length;
    this.#hi = 0;
  }

  destroy(): void {
    this.buffer.destroy();
  }
}
