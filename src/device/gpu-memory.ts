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
import { BufferUsage } from '../gpu/constants.ts';
import { writeBackPages } from '../migrate/migrate.ts';
import type { SpaceCore } from '../space/core.ts';
import { PageFlag, PageState } from '../space/page-table.ts';
import { FREE } from './frames.ts';
import type { PoolImpl } from './pool.ts';

/** Pools in the middle of a shrink: the write-back it does may allocate, and must not shrink again. */
const shrinking = new WeakSet<PoolImpl>();

/** Create a buffer inside an out-of-memory scope; undefined if the device refused it. */
async function tryCreate(device: GPUDevice, desc: GPUBufferDescriptor): Promise<GPUBuffer | undefined> {
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
export async function allocate(pool: PoolImpl, desc: GPUBufferDescriptor, protect: readonly number[] | 'all' = []): Promise<GPUBuffer> {
  for (;;) {
    const b = await tryCreate(pool.device, desc);
    if (b) return b;
    if (pool.transfer.releaseIdle() > 0) continue;
    const refused = protect !== 'all' ? await shrink(pool, protect)
      : pool.frames.frameCount > pool.frames.windowFrames ? ', and no window could be given back now (pinned or in use)' : ', with nothing left to give back';
    if (refused !== undefined) throw new GpuOutOfMemoryError(`allocating "${desc.label ?? 'a buffer'}"`, desc.size, pool.capacity, refused);
  }
}

/** Give back the pool's last window: undefined when done, else why not (the end of a GpuOutOfMemoryError message). */
async function shrink(pool: PoolImpl, protect: readonly number[]): Promise<string | undefined> {
  const busy = ', and no window could be given back now (pinned or in use)';
  if (shrinking.has(pool)) return busy;
  const frames = pool.frames;
  const wf = frames.windowFrames;
  const active = Math.ceil(frames.frameCount / wf);
  if (active <= 1) return ', with nothing left to give back';
  const first = (active - 1) * wf;
  const ps = pool.pageSize;
  const minSum = pool.groups.minFrames();
  if (minSum > first) {
    return `, and its last window cannot be given back: the pool would hold ${first * ps} bytes, less than the ${minSum * ps} bytes ` +
      `its memory groups' min add up to (each group was promised its min)`;
  }
  if (protect.some((f) => f >= first)) return busy;
  /** Pages with a frame in the window, per space; false if one may not leave. */
  const scan = (): Map<SpaceCore, number[]> | false => {
    const out = new Map<SpaceCore, number[]>();
    for (let f = first; f < frames.frameCount; f++) {
      const id = frames.owner[f]!;
      if (id === FREE) continue;
      const s = pool.spaces.get(id);
      const p = frames.page[f]!;
      if (!s || s.table.frame[p] !== f || s.table.pins[p]! > 0 || (s.table.flags[p]! & PageFlag.Locked) !== 0) return false;
      let list = out.get(s);
      if (!list) out.set(s, (list = []));
      list.push(p);
    }
    return out;
  };
  const held = scan();
  if (!held) return busy;
  shrinking.add(pool);
  let written = 0;
  try {
    // Dirty pages go home first (the read-back may itself need memory: then it fails, and so does the shrink).
    for (const [s, pages] of held) {
      const dirty = pages.filter((p) => s.table.state[p] === PageState.Device).sort((a, b) => a - b);
      if (dirty.length > 0) written += await writeBackPages(s, dirty, 'eviction');
    }
  } catch {
    return busy;
  } finally {
    shrinking.delete(pool);
  }
  // Host writes may have dropped frames meanwhile; nothing can have taken one (the caller holds the lock).
  const now = scan();
  if (!now) return busy;
  for (const [s, pages] of now) {
    for (const p of pages) {
      if (s.table.state[p] === PageState.Device) return busy; // a write-back that did not land: keep everything
    }
  }
  let dropped = 0;
  for (const [s, pages] of now) {
    for (const p of pages) {
      s.table.dropCopy(p);
      dropped++;
    }
  }
  // Evictions, as if CLOCK had chosen them: the written-back ones count as write-backs, the others as drops.
  pool.counters.evictions += dropped;
  pool.counters.evictionWritebacks += Math.min(written, dropped);
  pool.counters.evictionDrops += dropped - Math.min(written, dropped);
  const w = active - 1;
  const o = pool.options;
  pool.windows[w]!.destroy();
  pool.windows[w] = pool.device.createBuffer({ label: `${o.label}:window[${w}]:given-back`, size: 16, usage: BufferUsage.STORAGE });
  frames.truncate(first);
  const capacity = first * o.pageSize;
  pool.options = { ...o, capacity, pinLimit: Math.min(o.pinLimit, capacity) };
  pool.windowsVersion++; // bind groups are made again at the next pass
  pool.counters.shrinks++;
  return undefined;
}

