// The GPU resources one space's passes use, owned here (not by the space): the
// uniform block (the VmUniforms header and the dispatch's argument words), the
// record buffer the prelude writes (src/fault/records.ts), the MAP_READ
// buffers its records are read back through (one per pass in flight, reused),
// and the bind group that puts them beside the pool's windows.
//
// One set per space per device: made at the space's first pass; made anew when
// the pool moved to a new device (recover); the bind group made anew when the
// pool's windows changed (an out-of-memory shrink gives one back:
// pool.windowsVersion) or its page table's buffer changed (a two-level table
// grew); destroyed with the space.

import { BINDING, UNIFORM_BYTES } from '../abi.ts';
import { BufferUsage } from '../gpu/constants.ts';
import { markRuntimeBuffer } from '../gpu/runtime-buffers.ts';
import { allocate } from '../device/buffer-alloc.ts';
import { layoutFor } from '../kernel/pipelines.ts';
import type { SpaceCore } from '../space/state.ts';
import { passClearBytes, passReadBytes, recordBytes } from './records.ts';

export class PassResources {
  readonly device: GPUDevice;
  readonly #space: SpaceCore;
  readonly uniforms: GPUBuffer;
  #log: GPUBuffer;
  #logCompletionWords = 0;
  #completionDirty = false;
  #bindGroup: GPUBindGroup | undefined;
  #bindGroupWindows = -1;
  /** The page table buffer the bind group holds: a two-level table that grew has a new one. */
  #bindGroupTable: GPUBuffer | undefined;
  readonly #readbacks: GPUBuffer[] = [];
  #readbacksMade = 0;
  #destroyed = false;

  private constructor(space: SpaceCore) {
    this.#space = space;
    this.device = space.pool.device;
    this.uniforms = this.device.createBuffer({ label: `${space.label}:uniforms`, size: UNIFORM_BYTES, usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST });
    this.#log = markRuntimeBuffer(this.device.createBuffer({
      label: `${space.label}:record`, size: recordBytes(space.pageCount, 0), usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST,
    }));
  }

  /** The space's resources on its pool's device now (made, or made anew after recover). */
  static of(space: SpaceCore): PassResources {
    let r = byspace.get(space);
    if (r && r.device !== space.pool.device) {
      r.destroy();
      r = undefined;
    }
    if (!r) {
      const made = new PassResources(space);
      byspace.set(space, made);
      space.onDestroy(() => made.destroy());
      r = made;
    }
    return r;
  }

  /** The record buffer passes write (violations, faults, page bitmaps, workgroup completion). */
  get log(): GPUBuffer {
    return this.#log;
  }

  /**
   * Grow the record buffer to hold `words` completion words (replay mode),
   * through the pool's allocator (it may be megabytes: out of memory, the pool
   * gives memory back first). The old one is destroyed after queued work.
   */
  async ensureCompletionWords(words: number): Promise<void> {
    if (this.#completionDirty) {
      // A replay dispatch that did not finish left words set: zero them before the next one relies on it.
      const enc = this.device.createCommandEncoder({ label: `${this.#space.label}:clear-completion` });
      enc.clearBuffer(this.#log, passClearBytes(this.#space.pageCount), this.#logCompletionWords * 4);
      this.device.queue.submit([enc.finish()]);
      this.#completionDirty = false;
    }
    if (words <= this.#logCompletionWords) return;
    const s = this.#space;
    const log = await allocate(s.pool, {
      label: `${s.label}:record`, size: recordBytes(s.pageCount, words), usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST,
    });
    this.#log.destroy();
    this.#log = markRuntimeBuffer(log);
    this.#logCompletionWords = words;
    this.#bindGroup = undefined;
  }

  /**
   * Replay completion words are all 0 between dispatches (src/kernel/link.ts relies on it: a
   * slice's first pass reads none). A dispatch that ends with words set — it failed, was aborted,
   * or a slice of it was cut after it ran — says so, and the next ensureCompletionWords zeroes them.
   */
  markCompletionDirty(): void {
    this.#completionDirty = true;
  }

  bindGroup(): GPUBindGroup {
    // One bind group serves both window types: the layout says "storage" either way.
    const pool = this.#space.pool;
    if (!this.#bindGroup || this.#bindGroupWindows !== pool.windowsVersion || this.#bindGroupTable !== this.#space.gpt.buffer) {
      const entries: GPUBindGroupEntry[] = [
        { binding: BINDING.uniforms, resource: { buffer: this.uniforms } },
        { binding: BINDING.pageTable, resource: { buffer: this.#space.gpt.buffer } },
        { binding: BINDING.record, resource: { buffer: this.#log } },
      ];
      pool.windows.forEach((w, i) => entries.push({ binding: BINDING.firstWindow + i, resource: { buffer: w } }));
      this.#bindGroup = this.device.createBindGroup({ label: `${this.#space.label}:bind-group`, layout: layoutFor(this.device, pool.windowCount).bgl, entries });
      this.#bindGroupWindows = pool.windowsVersion;
      this.#bindGroupTable = this.#space.gpt.buffer;
    }
    return this.#bindGroup;
  }

  takeReadback(): GPUBuffer {
    const b = this.#readbacks.pop();
    if (b) return b;
    this.#readbacksMade++;
    return this.device.createBuffer({
      label: `${this.#space.label}:record-readback[${this.#readbacksMade - 1}]`, size: passReadBytes(this.#space.pageCount), usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST,
    });
  }

  recycleReadback(b: GPUBuffer): void {
    if (this.#destroyed || this.#space.destroyed) b.destroy();
    else this.#readbacks.push(b);
  }

  destroy(): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    this.uniforms.destroy();
    this.#log.destroy();
    for (const b of this.#readbacks.splice(0)) b.destroy();
    if (byspace.get(this.#space) === this) byspace.delete(this.#space);
  }
}

const byspace = new WeakMap<SpaceCore, PassResources>();
