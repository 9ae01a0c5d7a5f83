// A dispatch's journal of the pages it made device-dirty, for one case: the
// device is lost before the dispatch's results are delivered. Then those
// pages go back to what they were before it (src/device/loss.ts: a loss
// reports only the output of dispatches that resolved).

import type { SpaceCore } from '../space/state.ts';
import { lostBy } from '../device/loss.ts';

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
   * were clean before): a declared dispatch's access counters (fault/access-bits.ts)
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
