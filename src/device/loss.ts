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
// State lives in LossState, written only here (and cleared by recover:
// src/migrate/recover.ts, which the pool reaches through its hooks); the pool,
// the spaces' operations and the dispatches call these functions. A dispatch's
// own undo is its DirtyJournal (src/fault/journal.ts).

import { assert, InternalError } from '../assert.ts';
import { DestroyedError, DeviceLostError, HmmError, type LostRange } from '../errors.ts';
import type { PoolImpl, PoolMember } from './pool.ts';

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
  readonly spaces: readonly {
    /** The space's label. */
    readonly label: string;
    /** The space's id in its pool. */
    readonly spaceId: number;
    /** Ranges of the space whose only copy was on the lost device. */
    readonly lostRanges: readonly LostRange[];
  }[];
  /** Pinned pages uploaded to the new device. */
  readonly pagesRepinned: number;
}

/** device.lost resolved for the pool's current device. */
export function noteLost(pool: PoolImpl<PoolMember>, info: GPUDeviceLostInfo): void {
  const loss = pool.loss;
  if (loss.info) return;
  loss.info = { reason: String(info.reason), message: info.message };
  loss.settled = settle(pool);
}

async function settle(pool: PoolImpl<PoolMember>): Promise<void> {
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
export function lossError<M extends PoolMember>(pool: PoolImpl<M>, space?: M): DeviceLostError {
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
export async function lostBy(pool: PoolImpl<PoolMember>, e: unknown): Promise<boolean> {
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
export async function failure<M extends PoolMember>(pool: PoolImpl<M>, space: M, e: unknown): Promise<never> {
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
