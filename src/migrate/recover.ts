// pool.recover(newDevice): the pool and its spaces go on with a new device
// after a loss (src/device/loss.ts draws the whole story). Windows and every
// space's GPU buffers are made on the new device; every page drops its device
// copy (lost pages keep their last, stale, host bytes); pinned pages get
// frames and their bytes again at once (I3). Refused, leaving the pool lost,
// when the new device cannot hold the pinned pages or the groups' min.
// Reached through the pool's hooks (src/api/pool.ts): device/ does not know
// spaces or migrations.

import { assert, fail } from '../assert.ts';
import { DestroyedError, GpuOutOfMemoryError, InvalidArgumentError } from '../errors.ts';
import { coalesce } from '../device/coalesce.ts';
import { lostBy, type RecoveryReport } from '../device/loss.ts';
import type { PoolImpl } from '../device/pool.ts';
import { createWindows } from '../device/windows.ts';
import { resolvePoolOptions } from '../options.ts';
import type { SpaceCore } from '../space/state.ts';
import { NO_FRAME } from '../space/page-table.ts';
import { noteMigration } from './record.ts';

/** pool.recover(device): see the top of this file. */
export async function recoverPool(pool: PoolImpl<SpaceCore>, device: GPUDevice): Promise<RecoveryReport> {
  if (pool.destroyed) throw new DestroyedError('this pool');
  if (!device || typeof device.createBuffer !== 'function') {
    throw new InvalidArgumentError('recover: pass a new GPUDevice (in Node, from requestNodeDevice() in webgpu-hmm/node)');
  }
  if (device === pool.device) throw new InvalidArgumentError('recover: pass a new device; a lost device cannot be used again');
  // A loss is delivered asynchronously: called right after it, give device.lost a moment.
  if (!(await lostBy(pool, undefined))) {
    throw new InvalidArgumentError("recover: this pool's device is not lost; recover() moves a pool whose device was lost to a new device");
  }
  await pool.loss.settled;
  return pool.withLock(async () => {
    if (!pool.loss.lost) throw new InvalidArgumentError('recover: the pool was recovered already (by another recover() call)');
    if (pool.destroyed) throw new DestroyedError('this pool');
    const resolved = resolvePoolOptions(pool.requested, device.limits);
    const made = await createWindows(device, resolved, 'recover');
    const o = made.options;
    const pinnedBytes = pool.pinnedPages * o.pageSize;
    if (pinnedBytes > o.capacity) {
      for (const b of made.buffers) b.destroy();
      throw new GpuOutOfMemoryError('recover', o.windowSize, o.capacity, `, and its ${pinnedBytes} pinned bytes must be resident; unpin some (unpin works while the device is lost)`);
    }
    // The memory groups were promised that their min fit the pool together (groups.ts): a smaller pool
    // could not keep it. Refused like the pins, leaving the pool lost: another device may be larger.
    const minBytes = pool.groups.minFrames() * o.pageSize;
    if (minBytes > o.capacity) {
      for (const b of made.buffers) b.destroy();
      throw new GpuOutOfMemoryError('recover', o.windowSize, o.capacity, `, and its memory groups' min add up to ${minBytes} bytes, which must fit; recover on a device with more memory`);
    }
    // ---- commit: synchronous from here, so nothing sees a pool half moved ----
    const final = pool.loss.final!;
    const lost = [...pool.spaces].map(([id, s]) => ({ label: s.label, spaceId: id, lostRanges: final.get(id) ?? [] }));
    pool.rebind(device, o, made.buffers);
    for (const s of pool.spaces.values()) s.rebind();
    pool.writeBacks.clear();
    let repinned = 0;
    for (const s of pool.spaces.values()) repinned += repin(s);
    pool.loss.info = undefined;
    pool.loss.settled = undefined;
    pool.loss.final = undefined;
    return { capacity: pool.capacity, spaces: lost, pagesRepinned: repinned };
  }, false);
}

/** Give the space's pinned pages frames on the new device and upload their host bytes (synchronously: writeBuffer). */
function repin(space: SpaceCore): number {
  const pool = space.pool;
  const t = space.table;
  const frames = pool.frames;
  const ps = space.pageSize;
  const pages: number[] = [];
  const fr: number[] = [];
  for (const p of t.pagesWhere(0, space.pageCount, (q) => t.pinsOf(q) > 0)) {
    if (!(t.frameOf(p) === NO_FRAME)) fail(`repin: page ${p} has a frame on a new device`);
    const [f, n] = frames.takeRun(1, space.id, p);
    assert(n === 1, 'repin: no free frame although the pinned pages fit');
    t.install(p, f);
    pages.push(p);
    fr.push(f);
  }
  if (pages.length === 0) return 0;
  const wf = frames.windowFrames;
  pool.transfer.writeBuffer(space.host, space.host.splitPieces(coalesce(pages, fr, wf).map((r) => ({
    hostOffset: r.page * ps, window: Math.floor(r.frame / wf), windowOffset: (r.frame % wf) * ps, byteLength: r.count * ps,
  }))));
  noteMigration({ space, direction: 'to-device', cause: 'explicit', pages, cleared: [], start: pool.events.now() });
  return pages.length;
}
