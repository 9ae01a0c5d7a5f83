// Device memory pressure. WebGPU tells that a device is out of memory only
// through the error scope of the allocation that failed; it has no pressure
// signal. So every buffer the runtime makes while it runs — the staging and
// read-back rings, eviction write-back buffers, demand-replay records — comes
// from allocate(): made inside an out-of-memory scope, and when the device
// refuses, the pool gives memory back and tries again (DESIGN §2.4:
// out-of-memory shrinks the pool and goes on):
//
//   1. idle eviction write-back buffers (the transfer's free list);
//   2. the pool's last window (shrink): the dirty pages in its frames are
//      written home, every page there drops its frame, the window's buffer is
//      destroyed and its frames are cut from the frame table; the pool's
//      capacity falls by one window (`pool.capacity`; `stats().shrinks`
//      counts them; `stats().requestedCapacity` keeps what was asked for).
//      Not possible for the first window, nor while a page there is pinned or
//      held by the operation that needs the memory (Locked, or between taking
//      a frame and mapping it, or a victim chosen for eviction: `protect`),
//      nor when the pool would hold less than its memory groups' min added up
//      (src/device/groups.ts): createGroup promised that they fit together, so
//      a group at or under its min is never evicted by another, and a pool
//      smaller than their sum could not keep that promise without a group
//      starving the others — the runtime has a choice here (fail the
//      allocation, typed), so it keeps the promise, as it keeps pins.
//
// When nothing can be given back the operation fails with GpuOutOfMemoryError
// naming the bytes, and changes nothing else: the caller has made no state
// change that depends on the buffer yet. A window given back stays bound to
// kernels through a 16-byte placeholder, so pipelines compiled for the pool
// keep their layout; no frame maps into it.

import { GpuOutOfMemoryError } from '../errors.ts';
import type { PoolImpl, PoolMember } from './pool.ts';

/** Create a buffer inside an out-of-memory scope; undefined if the device refused it (nothing is given back for it). */
export async function tryCreate(device: GPUDevice, desc: GPUBufferDescriptor): Promise<GPUBuffer | undefined> {
  device.pushErrorScope('out-of-memory');
  let b: GPUBuffer | undefined;
  let thrown: unknown;
  try {
    b = device.createBuffer(desc);
  } catch (e) {
    thrown = e; // mappedAtCreation of a buffer that cannot be allocated throws a RangeError
  }
  const err = await device.popErrorScope();
  if (thrown !== undefined && !(thrown instanceof RangeError)) throw thrown;
  if (err || !b) {
    b?.destroy();
    return undefined;
  }
  return b;
}

/**
 * Make a buffer the runtime needs now, giving device memory back when the
 * device is out of it (see the top of this file). The caller holds the pool
 * lock; `protect` lists frames it holds that a shrink must not take ('all':
 * it holds frames it cannot list — only idle memory may be given back).
 */
export async function allocate(pool: PoolImpl<PoolMember>, desc: GPUBufferDescriptor, protect: readonly number[] | 'all' = []): Promise<GPUBuffer> {
  for (;;) {
    const b = await tryCreate(pool.device, desc);
    if (b) return b;
    if (pool.transfer.releaseIdle() > 0) continue;
    const refused = protect !== 'all' ? await pool.shrink(protect)
      : pool.frames.frameCount > pool.frames.windowFrames ? ', and no window could be given back now (pinned or in use)' : ', with nothing left to give back';
    if (refused !== undefined) throw new GpuOutOfMemoryError(`allocating "${desc.label ?? 'a buffer'}"`, desc.size, pool.capacity, refused);
  }
}
