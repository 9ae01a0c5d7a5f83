// Contiguous runs for bound ranges (zero-translation bindings, src/fault/bound.ts):
// the pages of one range, already resident, are put in consecutive frames of
// one window so that the range can be bound as one sub-range of that window.
//
//   already consecutive in one window   nothing to do (the common case once placed:
//                                       a run, once made, is where later dispatches find it)
//   else                                choose the window slice cheapest to clear
//                                       (FrameTable.cheapestRun: fewest page moves, no
//                                       pinned page, no run this dispatch placed already),
//                                       then move in one step — compaction, as UVM
//                                       evicts or migrates within a 2 MiB root chunk to
//                                       back a big page: the range's pages into the
//                                       slice, the slice's other pages (any space's)
//                                       into the frames the range leaves. Every page
//                                       stays resident and keeps its state; only its
//                                       frame changes (PageTable.relocate), so nothing
//                                       goes home and nothing is evicted.
//
// The bytes move through a scratch buffer (WebGPU copies never have the same
// buffer as source and destination, and a swap needs a third place): every
// source is copied out, then every destination in, in one submission, which
// queue order places after any dispatch still reading the old frames. The
// page tables change synchronously with the submit, under the pool lock; the
// device page tables hear the new frames and flush before their next pass.

import { fail } from '../assert.ts';
import { BindRangeError } from '../errors.ts';
import { allocate } from '../device/buffer-alloc.ts';
import { coalesce } from '../device/coalesce.ts';
import { BufferUsage } from '../gpu/constants.ts';
import type { SpaceCore } from '../space/state.ts';
import { PageFlag } from '../space/page-table.ts';

interface Move {
  readonly from: number;
  readonly to: number;
}

/**
 * Put pages [first, last] of `space` (resident) in consecutive frames of one
 * window, moving no frame in `fixed`; returns the run's first frame, or
 * undefined when a page is not resident any more (a host write dropped it
 * during an await: the caller faults it in again and retries). Under the pool
 * lock. Throws BindRangeError when no run can be cleared (pinned pages).
 * `moved` counts the pages moved.
 */
export async function makeContiguous(
  space: SpaceCore, first: number, last: number, fixed: ReadonlySet<number>, moved: { pages: number },
  tiers: readonly ((w: number) => boolean)[] = [() => true],
): Promise<number | undefined> {
  const pool = space.pool;
  const t = space.table;
  const n = last - first + 1;
  const ps = space.pageSize;
  let scratch: GPUBuffer | undefined;
  try {
    for (;;) {
      pool.check();
      space.check();
      const frames = pool.frames;
      const wf = frames.windowFrames;
      for (let p = first; p <= last; p++) if (!t.isResident(p) || t.isInFlight(p)) return undefined;
      const f0 = t.frameOf(first);
      let inRun = f0 % wf + n <= wf && tiers.some((ok) => ok(Math.floor(f0 / wf)));
      for (let k = 1; inRun && k < n; k++) inRun = t.frameOf(first + k) === f0 + k;
      if (inRun) return f0;

      // ---- plan: the cheapest slice, then the moves ----
      const offsets = new Map<number, number>();
      for (let k = 0; k < n; k++) {
        const d = t.frameOf(first + k) - k;
        offsets.set(d, (offsets.get(d) ?? 0) + 1);
      }
      const ours = (f: number) => frames.owner[f] === space.id && frames.page[f]! >= first && frames.page[f]! <= last;
      const occupied = (f: number) => {
        if (fixed.has(f)) return Infinity;
        if (ours(f)) return 0;
        const other = pool.spaces.get(frames.owner[f]!)!.table;
        const q = frames.page[f]!;
        return other.pinsOf(q) > 0 || (other.flagsOf(q) & PageFlag.Locked) !== 0 ? Infinity : 1;
      };
      let start = -1;
      // A pinned page never moves (a pin promises its frame to whoever bound it: space.interop), so a
      // pinned page of the range fixes where the run must start.
      let anchor: number | undefined;
      let anchored = true;
      for (let k = 0; k < n; k++) {
        if (t.pinsOf(first + k) === 0) continue;
        const s0 = t.frameOf(first + k) - k;
        if (anchor !== undefined && anchor !== s0) anchored = false;
        anchor = s0;
      }
      if (anchor !== undefined) {
        let ok = anchored && anchor >= 0 && anchor % wf + n <= wf && anchor + n <= frames.frameCount && tiers.some((w) => w(Math.floor(anchor! / wf)));
        for (let f = anchor; ok && f < anchor + n; f++) ok = frames.owner[f] === 0 || occupied(f) !== Infinity || (ours(f) && !fixed.has(f));
        // Own pinned pages elsewhere in the slice than their place would have to move: no.
        for (let f = anchor; ok && f < anchor + n; f++) ok = !(ours(f) && t.pinsOf(frames.page[f]!) > 0 && f !== anchor + (frames.page[f]! - first));
        if (ok) start = anchor;
      } else {
        // The windows in the caller's order of preference: the first tier with a run wins.
        for (const ok of tiers) if (start < 0) start = frames.cheapestRun(n, occupied, (s) => offsets.get(s) ?? 0, ok);
      }
      if (start < 0) {
        throw new BindRangeError(
          `bind: no run of ${n} frames (${n * ps} bytes) in one window of the pool can be cleared: every one holds a pinned page or a range this dispatch binds already, ` +
            'or pinned pages of the range itself sit where no run can include them all in place ' +
            '(or its window holds a range of the other access: WebGPU binds one buffer either written or read-only within a dispatch); ' +
            'unpin some pages, bind smaller ranges, or use a larger pool',
        );
      }
      const moves: Move[] = [];
      const vacated: number[] = [];
      for (let k = 0; k < n; k++) {
        const from = t.frameOf(first + k);
        if (from === start + k) continue;
        moves.push({ from, to: start + k });
        if (from < start || from >= start + n) vacated.push(from);
      }
      for (let f = start; f < start + n; f++) {
        if (frames.owner[f] === 0 || ours(f)) continue;
        const to = vacated.pop();
        if (!(to !== undefined)) fail(`contiguous: no frame left for the page in frame ${f}`);
        moves.push({ from: f, to });
      }
      const bytes = moves.length * ps;
      if (scratch === undefined || scratch.size < bytes) {
        scratch?.destroy();
        const protect: number[] = [];
        for (let p = first; p <= last; p++) protect.push(t.frameOf(p));
        scratch = await allocate(pool, { label: `${space.label}:compaction`, size: bytes, usage: BufferUsage.COPY_SRC | BufferUsage.COPY_DST }, protect);
        continue; // the pool may have changed during the wait: plan again
      }

      // ---- move: synchronous from the copies to the page tables ----
      moves.sort((a, b) => a.from - b.from);
      const slots = moves.map((_, i) => i);
      const enc = pool.device.createCommandEncoder({ label: `${space.label}:compaction` });
      for (const r of coalesce(slots, moves.map((m) => m.from), wf)) {
        enc.copyBufferToBuffer(pool.windows[Math.floor(r.frame / wf)]!, (r.frame % wf) * ps, scratch, r.page * ps, r.count * ps);
      }
      const byTo = slots.slice().sort((a, b) => moves[a]!.to - moves[b]!.to);
      for (const r of coalesce(byTo, byTo.map((i) => moves[i]!.to), wf)) {
        enc.copyBufferToBuffer(scratch, r.page * ps, pool.windows[Math.floor(r.frame / wf)]!, (r.frame % wf) * ps, r.count * ps);
      }
      pool.device.queue.submit([enc.finish()]);
      const owners = moves.map((m) => ({ table: pool.spaces.get(frames.owner[m.from]!)!.table, page: frames.page[m.from]! }));
      frames.move(moves);
      moves.forEach((m, i) => owners[i]!.table.relocate(owners[i]!.page, m.to));
      moved.pages += moves.length;
      return start;
    }
  } finally {
    const s = scratch;
    // Destroyed once the copies through it have run.
    if (s) pool.device.queue.onSubmittedWorkDone().then(() => s.destroy(), () => s.destroy());
  }
}
