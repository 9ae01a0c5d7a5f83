// The pool's windows: the large GPUBuffers that hold its frames, each at most
// one storage binding. They are made inside out-of-memory error scopes: when
// the device cannot give the whole capacity, the pool takes the windows it got
// and goes on smaller (DESIGN §2.4). Used by createPool() and, on a new
// device, by pool.recover().

import { GpuOutOfMemoryError } from '../errors.ts';
import { BufferUsage } from '../gpu/constants.ts';
import { markRuntimeBuffer } from '../gpu/runtime-buffers.ts';
import type { ResolvedPoolOptions } from '../options.ts';

export interface Windows {
  readonly buffers: GPUBuffer[];
  /** The options with capacity, window count and pin limit cut to the windows made. */
  readonly options: ResolvedPoolOptions;
}

/** Options for a pool of the first `count` windows of `o`. */
export function shrunkTo(o: ResolvedPoolOptions, count: number): ResolvedPoolOptions {
  const capacity = Math.min(o.capacity, count * o.windowSize);
  return { ...o, capacity, windowCount: count, pinLimit: Math.min(o.pinLimit, capacity) };
}

/**
 * Make the windows of `o` on `device`. Stops at the first window the device
 * cannot allocate and returns the options cut to the ones it made; throws
 * GpuOutOfMemoryError when not even the first could be made.
 */
export async function createWindows(device: GPUDevice, o: ResolvedPoolOptions, what: string): Promise<Windows> {
  const buffers: GPUBuffer[] = [];
  for (let w = 0; w < o.windowCount; w++) {
    const size = Math.min(o.windowSize, o.capacity - w * o.windowSize);
    device.pushErrorScope('out-of-memory');
    const buf = device.createBuffer({
      label: `${o.label}:window[${w}]`,
      size,
      usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST,
    });
    const err = await device.popErrorScope();
    if (err) {
      buf.destroy();
      if (w === 0) throw new GpuOutOfMemoryError(what, size, 0, ` for its first window (asked for a pool of ${o.capacity} bytes)`);
      return { buffers, options: shrunkTo(o, w) };
    }
    buffers.push(markRuntimeBuffer(buf));
  }
  return { buffers, options: o };
}
