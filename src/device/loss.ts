// Device loss: what a pool does when its GPUDevice goes away, and how it goes
// on with a new one. WebGPU reports a loss once, through `device.lost`; from
// then on every map rejects and every command is ignored. The page tables say
// where each page's valid copy lives, so the pages whose only copy was on the
// device are known exactly — once nothing is still changing them.
//
//   lost     device.lost resolved (noteLost). Every operation that checks the
//            pool fails with DeviceLostError; those in flight fail at their
//            next wait on the GPU (a map, an error scope).
//   settle   when every public operation of the pool's spaces (pool.op) and
//            every eviction write-back has finished — failed, or landed — the
//            loss is settled: per space, the ranges still device-only are the
//            lost ranges. A dispatch that failed first undid its own dirty
//            marks (DirtyJournal): its results were never delivered, so its
//            pages keep the host bytes they had before it and are not lost;
//            what is lost is the output of dispatches that resolved and was
//            not written home since. Every DeviceLostError an operation
//            rejects with is made after the settle and carries exactly those
//            ranges (a synchronous call that throws before it lists what was
//            device-only at that moment).
//   recover  pool.recover(newDevice) (recoverPool): windows, transfer rings
//            and every space's GPU buffers are made anew on the new device;
//            every page drops its device copy — lost pages keep their last
//            host bytes, stale, as the report and the errors said — pinned
//            pages are uploaded again at once (I3: pinned ⇒ resident), and
//            pipelines compile again on first use (the caches are per device).
//            Spaces, allocations, subscriptions, listeners and counters stay.
//            Refused (GpuOutOfMemoryError, the pool stays lost) when the new
//            device cannot hold the pinned pages or the memory groups' min.
//            Unpinning works while lost (it is host-side accounting), so the
//            first can be fixed before trying again.
//
// State lives in LossState, written only here (and cleared by recoverPool);
// the pool, the spaces' operations and the dispatches call these functions.

import { assert, InternalError } from '../assert.ts';
import {
  DestroyedError, DeviceLostError, GpuOutOfMemoryError, HmmError, InvalidArgumentError, type LostRange,
} from '../errors.ts';
import { resolvePoolOptions } from '../options.ts';
import type { SpaceCore } from '../space/core.ts';
import { NO_FRAME, PageFlag, PageState } from '../space/page-table.ts';
import { coalesce } from './coalesce.ts';
import { noteMigration } from '../migrate/record.ts';
import type { PoolImpl } from './pool.ts';
import { createWindows } from './windows.ts';

/**
 * Invariants: `settled` is set ⇔ `info` is set; `final` is set only after
 * `settled` resolved. Written by noteLost/settle (here) and reset by recoverPool.
 */
export class LossState {
  /** What device.lost said; set when the pool learned of the loss. */
  info: { readonly reason: string; readonly message: string } | undefined;
  /** Resolves when the loss is settled (never rejects). */
  settled: Promise<void> | undefined;
  /** Per space id: the ranges whose only copy was on the lost device. */
  final: Map<number, LostRange[]> | undefined;
  /** Public operations of the pool's spaces in flight (PoolImpl.op): the settle waits for them. */
  readonly ops = new Set<Promise<unknown>>();

  get lost(): boolean {
    return this.info !== undefined;
  }
}

/** What pool.recover() did. */
export interface RecoveryReport {
  /** The pool's capacity on the new device (less than before when it could not give it all). */
  readonly capacity: number;
  /** Per space: the ranges whose only copy was on the lost device. They now hold their last host bytes. */
  readonly spaces: readonly { readonly label: string; readonly spaceId: number; readonly lostRanges: readonly LostRange[] }[];
  /** Pinned pages uploaded to the new device. */
  readonly pagesRepinned: number;
}

/** device.lost resolved for the pool's current device. */
export function noteLost(pool: PoolImpl, info: GPUDeviceLostInfo): void {
  const loss = pool.loss;
  if (loss.info) return;
  loss.info = { reason: String(info.reason), message: info.message };
  loss.settled = settle(pool);
}

async function settle(pool: PoolImpl): Promise<void> {
  const loss = pool.loss;
  // New operations fail at once (the pool is lost), so this ends.
  for (;;) {
    const pending = [...loss.ops, ...pool.writeBacks];
    if (pending.length === 0) break;
    await Promise.allSettled(pending);
  }
  const final = new Map<number, LostRange[]>();
  for (const [id, s] of pool.spaces) final.set(id, s.deviceOnlyRanges());
  loss.final = final;
}

/** The DeviceLostError for an operation on `space` (or on the pool). */
export function lossError(pool: PoolImpl, space?: SpaceCore): DeviceLostError {
  const loss = pool.loss;
  assert(loss.info !== undefined, 'lossError on a pool that is not lost');
  let ranges: LostRange[];
  if (space) {
    ranges = loss.final?.get(space.id) ?? space.deviceOnlyRanges();
  } else {
    ranges = [];
    for (const [id, s] of pool.spaces) ranges.push(...(loss.final?.get(id) ?? s.deviceOnlyRanges()));
  }
  return new DeviceLostError(loss.info.reason, loss.info.message, ranges);
}

/**
 * Did `e` come from losing the device? Once device.lost has resolved, yes. A
 * raw GPU error (a rejected map) can arrive just before the loss is
 * delivered, so for those wait a moment for device.lost.
 */
export async function lostBy(pool: PoolImpl, e: unknown): Promise<boolean> {
  if (pool.loss.lost) return true;
  if (pool.destroyed || (e instanceof HmmError && !(e instanceof DeviceLostError)) || e instanceof InternalError) return false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  await Promise.race([
    pool.device.lost.then(() => undefined, () => undefined),
    new Promise<void>((r) => (timer = setTimeout(r, LOSS_GRACE_MS))),
  ]);
  clearTimeout(timer);
  return pool.loss.lost;
}

/** How long a raw GPU error waits for device.lost before it is taken for something else. */
const LOSS_GRACE_MS = 20;

/** An operation failed with `e`: if the device was lost, wait for the settle and fail with its ranges. */
export async function failure(pool: PoolImpl, space: SpaceCore, e: unknown): Promise<never> {
  if (await lostBy(pool, e)) {
    await pool.loss.settled;
    if (pool.loss.lost) throw lossError(pool, space);
  }
  // The pool or space was destroyed under the operation: WebGPU's own error (a rejected map, a
  // destroyed buffer) says nothing useful; the typed error does (found by the hostile tests, issue 13).
  if (!(e instanceof HmmError) && !(e instanceof InternalError) && (pool.destroyed || space.destroyed)) {
    throw new DestroyedError(pool.destroyed ? 'the pool of this address space' : 'this address space');
  }
  throw e;
}

/**
 * The pages one dispatch made device-dirty that were clean before it. If the
 * dispatch fails because the device was lost, its results were never
 * delivered: those pages go back to host-valid with the bytes they had before
 * it (a replay-mode demand dispatch may have written part of its output home
 * already — running it again is safe, it is idempotent), so a loss reports
 * only the output of dispatches that resolved.
 */
export class DirtyJournal {
  readonly #space: SpaceCore;
  readonly #pages: number[] = [];

  constructor(space: SpaceCore) {
    this.#space = space;
  }

  /** The dispatch (stamp: its dirtiedBy stamp) wrote resident page p: it becomes device-dirty (fault/ calls this instead of the transition). */
  markDirty(p: number, stamp: number): void {
    if (this.#space.table.markDeviceDirty(p, stamp)) this.#pages.push(p);
  }

  /**
   * Pages this dispatch made device-dirty itself (it set their state; they
   * were clean before): a declared dispatch's access counters (fault/counters.ts)
   * keep the state, the journal only remembers them for undoIfLost.
   */
  recordDirtied(pages: readonly number[]): void {
    for (const p of pages) this.#pages.push(p);
  }

  /** The dispatch failed with `e`: if the device was lost, undo its dirty marks. */
  async undoIfLost(e: unknown): Promise<void> {
    if (this.#pages.length === 0 || !(await lostBy(this.#space.pool, e))) return;
    // Pages written home, or overwritten by the host, since are left alone (no longer Device); an InFlight
    // one's write-back will never land; otherwise the host copy is the one from before the dispatch.
    const t = this.#space.table;
    for (const p of this.#pages) t.revertDirty(p);
    this.#pages.length = 0;
  }
}

/** pool.recover(device): see the top of this file. */
export async function recoverPool(pool: PoolImpl, device: GPUDevice): Promise<RecoveryReport> {
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
  for (let p = 0; p < space.pageCount; p++) {
    if (t.pins[p] === 0) continue;
    assert(t.frame[p] === NO_FRAME, `repin: page ${p} has a frame on a new device`);
    const [f, n] = frames.takeRun(1, space.id, p);
    assert(n === 1, 'repin: no free frame although the pinned pages fit');
    t.install(p, f);
    pages.push(p);
    fr.push(f);
  }
  if (pages.length === 0) return 0;
  const wf = frames.windowFrames;
  pool.transfer.writeBuffer(space.host, coalesce(pages, fr, wf).map((r) => ({
    hostOffset: r.page * ps, window: Math.floor(r.frame / wf), windowOffset: (r.frame % wf) * ps, byteLength: r.count * ps,
  })));
  noteMigration({ space, direction: 'to-device', cause: 'explicit', pages, cleared: [], start: pool.events.now() });
  return pages.length;
}
