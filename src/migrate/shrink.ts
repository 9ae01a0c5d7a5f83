// Giving a window back when the device is out of memory: the second eviction
// path (src/device/buffer-alloc.ts says when the pool asks for it; the pool
// reaches this through its hooks, since device/ knows no pages). The window's
// dirty pages are written home, every page there drops its frame, the window's
// buffer is destroyed (a 16-byte placeholder keeps the bind group layout), its
// frames are cut from the frame table, and the pool's capacity falls by one
// window. Refused — the caller fails with GpuOutOfMemoryError — for the first
// window, while a page there is pinned or held by the operation that needs the
// memory (Locked, or in `protect`), or when the pool would hold less than its
// memory groups' min added up.

import { BufferUsage } from '../gpu/constants.ts';
import { FREE } from '../device/frames.ts';
import type { PoolImpl } from '../device/pool.ts';
import type { SpaceCore } from '../space/state.ts';
import { PageState } from '../space/page-table.ts';
import { writeBackPages } from './migrate.ts';

/** Pools in the middle of a shrink: the write-back it does may allocate, and must not shrink again. */
const shrinking = new WeakSet<PoolImpl<SpaceCore>>();

/** Give back the pool's last window: undefined when done, else why not (the end of a GpuOutOfMemoryError message). */
export async function shrinkLastWindow(pool: PoolImpl<SpaceCore>, protect: readonly number[]): Promise<string | undefined> {
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
      if (!s || s.table.frameOf(p) !== f || s.table.pinsOf(p) > 0 || s.table.isLocked(p)) return false;
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
      const dirty = pages.filter((p) => s.table.stateOf(p) === PageState.Device).sort((a, b) => a - b);
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
      if (s.table.stateOf(p) === PageState.Device) return busy; // a write-back that did not land: keep everything
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

