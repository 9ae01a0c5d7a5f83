// One dispatch, from its checked arguments to its result: the declared or the
// demand protocol (declared.ts, demand.ts), then the epilogue every dispatch
// shares —
//
//   durable space   what the kernel stored goes home before the dispatch
//                   settles (also when it failed after storing: a violation),
//                   so nothing is ever valid only on the device between
//                   dispatches;
//   device lost     if the dispatch (or its write-home) failed because the
//                   device was lost, its results were never delivered: the
//                   pages it dirtied go back to what they were (journal.ts).
//
// The facade (src/api/address-space.ts) places the dispatch in its space's
// issue order and reports it on the event stream; this module runs it.

import type { SpaceCore } from '../space/state.ts';
import { writeBack } from '../migrate/migrate.ts';
import { PageState } from '../space/page-table.ts';
import { dispatchBound } from './bound.ts';
import { dispatchDeclared } from './declared.ts';
import { dispatchDemand } from './demand.ts';
import { DirtyJournal } from './journal.ts';
import type { Checked, DispatchOrder } from './pass.ts';
import type { DispatchResult } from './dispatch-types.ts';

export async function runDispatch(space: SpaceCore, checked: Checked, order: DispatchOrder, durable: boolean): Promise<DispatchResult> {
  const journal = new DirtyJournal(space);
  let result: DispatchResult | undefined;
  let error: unknown;
  try {
    result = await (checked.demand ? dispatchDemand(space, checked, journal, order)
      : checked.bound ? dispatchBound(space, { ...checked, bound: checked.bound, extents: checked.extents ?? [], resources: checked.resources ?? [] }, journal, order)
      : dispatchDeclared(space, checked, journal, order));
  } catch (e) {
    error = e;
  } finally {
    order.submitted();
  }
  let homeError: unknown;
  if (durable) await writeHome(space).catch((e: unknown) => (homeError = e));
  if (error !== undefined || homeError !== undefined) {
    // Lost before its results were delivered (or went home): the dispatch leaves its pages as they were.
    await journal.undoIfLost(homeError ?? error);
    throw error ?? homeError;
  }
  return result!;
}

/** Durable mode: write every device-only page of the space home (they become shared). */
async function writeHome(space: SpaceCore): Promise<void> {
  if (space.table.countInState(PageState.Device) === 0) return;
  await space.pool.withLock(async () => {
    space.check();
    await writeBack(space, 0, space.pageCount - 1, 'durable');
  });
}
