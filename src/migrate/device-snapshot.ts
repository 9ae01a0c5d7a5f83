// A snapshot kept on the device. A demand transaction's commit may write the
// pages of its write set, and an aborted commit must put them back: pages
// whose host copy is valid come back from the host; device-dirty ones used to
// be written home first, so that the host copy was the snapshot — a read-back
// of every dirty page at every commit, the whole cost of a transaction over
// resident pages (`demand-resident`: 16 MiB read back per dispatch). Here
// their frames are copied into a buffer of the space's instead, on the
// device, queued before the commit pass, and copied back on an abort, queued
// after it:
//
//   take(pages)       frame → buffer, a copy per run of consecutive frames
//   submit the commit
//   restore(pages)    buffer → frame, for the pages still in the frame they
//                     had (a host write meanwhile dropped the others: the
//                     host's bytes are the newer ones)
//
// It holds only while the pages keep their frames from take to restore: the
// caller takes it after its last fault-in before the commit, holding the pool
// lock, and restores before any migration. In a sliced dispatch, whose undo
// log keeps the host copy of each page from before the dispatch, only the
// pages an earlier slice wrote (logged already) are taken here; a page the
// dispatch writes first goes home (src/fault/demand.ts #commit). The buffer
// stays with the space for its next commit — 1 MiB at first, doubled when a
// commit needs more, up to the pool's write-back cap (a larger snapshot goes
// home as before); a device that cannot make it gets the read-back too.

import { tryCreate } from '../device/buffer-alloc.ts';
import { BufferUsage } from '../gpu/constants.ts';
import type { SpaceCore } from '../space/state.ts';
import { coalesce } from '../device/coalesce.ts';
import { writeBackCap } from './migrate.ts';

export interface DeviceSnapshot {
  /** The pages taken. */
  readonly pages: ReadonlySet<number>;
  /** Copy back those of `pages` that were taken and still have the frame they had; how many. */
  restore(pages: Iterable<number>): number;
}

/**
 * The smallest snapshot buffer made: a commit's device-dirty write set of up
 * to 16 pages of 64 KiB needs no other (a space's buffer does not grow with
 * every larger commit — the soak counts buffer bytes and wants them flat).
 */
const DEVICE_SNAPSHOT_MIN_BYTES = 1 << 20;

/** Each space's snapshot buffer, and the device it is on (a pool recovered on a new device makes another). */
const buffers = new WeakMap<SpaceCore, { device: GPUDevice; buffer: GPUBuffer }>();

/**
 * A buffer of at least `pages` pages for a device snapshot of `space`, or
 * undefined: more than the pool's write-back cap, or the device out of memory
 * (then the caller writes the pages home instead).
 */
export async function snapshotBuffer(space: SpaceCore, pages: number): Promise<GPUBuffer | undefined> {
  const bytes = pages * space.pageSize;
  if (bytes === 0 || bytes > writeBackCap(space.pool)) return undefined;
  const device = space.pool.device;
  const entry = buffers.get(space);
  const have = entry?.device === device ? entry.buffer : undefined;
  if (have && have.size >= bytes) return have;
  // A power of two from DEVICE_SNAPSHOT_MIN_BYTES, up to the cap: a space's buffer grows a few times at most.
  let size = Math.max(DEVICE_SNAPSHOT_MIN_BYTES, have ? have.size * 2 : 0);
  while (size < bytes) size *= 2;
  const made = await tryCreate(device, {
    label: `${space.label}:device-snapshot`, size: Math.max(bytes, Math.min(size, writeBackCap(space.pool))), usage: BufferUsage.COPY_SRC | BufferUsage.COPY_DST,
  });
  if (!made) return undefined;
  entry?.buffer.destroy();
  if (!entry) space.onDestroy(() => buffers.get(space)?.buffer.destroy());
  buffers.set(space, { device, buffer: made });
  return made;
}

/** Copy the frames of `pages` (resident; ascending) into `buffer`, queued now. */
export function takeDeviceSnapshot(space: SpaceCore, buffer: GPUBuffer, taken: ArrayLike<number>): DeviceSnapshot {
  const pages = Array.from(taken);
  const pool = space.pool;
  const t = space.table;
  const ps = space.pageSize;
  const wf = pool.frames.windowFrames;
  const frames = pages.map((p) => t.frameOf(p));
  /** Each page's place in the buffer, and its frame then. */
  const at = new Map<number, { slot: number; frame: number }>();
  pages.forEach((p, i) => at.set(p, { slot: i, frame: frames[i]! }));
  const copy = (enc: GPUCommandEncoder, list: readonly number[], toBuffer: boolean): void => {
    const slots = list.map((p) => at.get(p)!.slot);
    const fr = list.map((p) => at.get(p)!.frame);
    // Runs consecutive in both the buffer and the frames (a window boundary ends one).
    for (const r of coalesce(slots, fr, wf)) {
      const window = pool.windows[Math.floor(r.frame / wf)]!;
      const off = (r.frame % wf) * ps;
      if (toBuffer) enc.copyBufferToBuffer(window, off, buffer, r.page * ps, r.count * ps);
      else enc.copyBufferToBuffer(buffer, r.page * ps, window, off, r.count * ps);
    }
  };
  if (pages.length > 0) {
    const enc = pool.device.createCommandEncoder({ label: `${space.label}:device-snapshot` });
    copy(enc, pages, true);
    pool.device.queue.submit([enc.finish()]);
  }
  return {
    pages: new Set(pages),
    restore(list) {
      const back = [...list].filter((p) => at.has(p) && t.isResident(p) && t.frameOf(p) === at.get(p)!.frame).sort((a, b) => at.get(a)!.slot - at.get(b)!.slot);
      if (back.length === 0) return 0;
      const enc = pool.device.createCommandEncoder({ label: `${space.label}:device-snapshot:restore` });
      copy(enc, back, false);
      pool.device.queue.submit([enc.finish()]);
      return back.length;
    },
  };
}
