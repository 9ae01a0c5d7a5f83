// Declared-range faulting: the runtime's `hmm_range_fault`. A dispatch names
// the ranges it reads and writes; before it is submitted every page of those
// ranges is made resident, the device page table is brought up to date with
// READ/WRITE granted exactly on those pages, and written pages are marked
// device-dirty. Nothing is replayed: an access outside the ranges is refused
// by the prelude and reported as a violation.
//
// The fault-in follows HMM's driver loop:
//
//   lock pool
//   again:
//     seq = sub.readBegin()            sub watches the dispatch's whole range
//     makeResident(pages)              may await (eviction write-back, staging)
//     if sub.readRetry(seq) → again    a host write dropped a page meanwhile
//   program the device: grant PTEs, flush the table, write the uniforms,
//   encode, submit                     — synchronous: no await after the check
//   mark written pages Device
//   unlock; await completion; read the violation log and the access counters:
//   written pages the kernel did not write go back to clean (fault/access-bits.ts)
//
// Cancellation (the `signal` option, src/lifetime.ts): an abort is seen up to
// the submit — after compiling, after its turn, on taking the lock, and after
// the fault-in (the pages it brought in stay resident and valid; nothing was
// granted or marked). Once submitted, the dispatch completes.

import { Mode } from '../abi.ts';
import { fail } from '../assert.ts';
import type { DirtyJournal } from './journal.ts';
import { AccessViolationError } from '../errors.ts';
import { emptyReport, makeResident, type MigrationReport } from '../migrate/migrate.ts';
import type { SpaceCore } from '../space/state.ts';
import { checkBypass, reportUnexpectedFaults } from '../space/strict.ts';
import { applyCounters, markDeclared, type DeclaredMarks } from './access-bits.ts';
import { prepare, readPass, submitPass, type Checked, type DispatchOrder } from './pass.ts';
import type { DispatchResult } from './dispatch-types.ts';
import { decodeViolations, VIOLATION_RECORD_BYTES, violationCount } from './records.ts';

export async function dispatchDeclared(space: SpaceCore, checked: Checked, journal: DirtyJournal, order: DispatchOrder): Promise<DispatchResult> {
  const t0 = performance.now();
  const kernel = checked.kernel;
  const prep = await prepare(space, checked);
  await order.after;
  const cancel = order.cancel;
  cancel?.check(); // aborted while it waited for its turn or compiled: nothing done
  const { readPages: rPages, writePages: wPages } = prep;
  const all = Uint32Array.from([...rPages, ...wPages]).sort();
  const pool = space.pool;
  const ps = space.pageSize;
  const report: MigrationReport = emptyReport();
  let retries = 0;
  let passStart = 0;
  let writeBacks: Promise<void>[] = [];
  /** The pages that were not resident when the fault-in began (expectNoFaults reports them; access counters unreference them if untouched). */
  const cold: number[] = [];
  let marks: DeclaredMarks | undefined;

  const submitted = await pool.withLock(async () => {
    space.check();
    cancel?.check(); // aborted while it waited for the lock
    cancel?.begin(); // from here it stops only at the check before programming the device
    // Fail fast when the ranges cannot fit even after evicting everything unpinned (and what the memory groups allow).
    pool.groups.checkFits(space, all);
    checkBypass(space, kernel.label, all);
    for (const p of all) if (!space.table.isResident(p)) cold.push(p);
    const sub = all.length ? space.notifier.subscribe(all[0]! * ps, (all[all.length - 1]! + 1) * ps) : undefined;
    try {
      for (;;) {
        const seq = sub?.readBegin() ?? 0;
        await makeResident(space, all, report, 'declared');
        space.check();
        if (!sub?.readRetry(seq)) break;
        retries++;
      }
      cancel?.check(); // the last chance: what the fault-in moved stays valid
      // ---- program the device: synchronous from here to submit ----
      const t = space.table;
      for (const p of all) if (!(t.isResident(p))) fail(`page ${p} not resident after fault-in`);
      space.gpt.grant(rPages, wPages);
      space.gpt.flush(pool.device.queue);
      passStart = pool.events.now();
      marks = markDeclared(space, all, wPages, cold);
      const pass = submitPass(space, prep, {
        mode: Mode.Declared, sliceBase: 0, sliceEnd: prep.total, clearBytes: VIOLATION_RECORD_BYTES, readBytes: VIOLATION_RECORD_BYTES,
        regions: marks.regions,
      });
      order.submitted();
      journal.recordDirtied(marks.clean);
      pool.counters.dispatches++;
      // The write-backs this fault-in started land before the kernel ends (queue order); the
      // dispatch resolves after them, so what it evicted reads as host-valid from then on.
      writeBacks = [...pool.writeBacks];
      return pass;
    } finally {
      sub?.remove();
    }
  });

  const rec = await readPass(space, kernel.label, submitted);
  applyCounters(space, marks!, rec);
  await pool.settleWriteBacks(writeBacks);
  if (pool.events.active) {
    pool.events.emit({
      type: 'pass', time: performance.now(), start: passStart, space: space.label, spaceId: space.id, kernel: kernel.label,
      mode: 'declared', aborted: false, workgroups: prep.total,
    });
  }
  const violations = violationCount(rec);
  if (violations > 0) {
    if (pool.events.active) pool.events.emit({ type: 'violation', time: performance.now(), space: space.label, spaceId: space.id, kernel: kernel.label, count: violations });
    throw new AccessViolationError(kernel.label, decodeViolations(rec), violations);
  }
  if (prep.expectNoFaults) reportUnexpectedFaults(space, kernel.label, cold);
  return { mode: 'declared', ...report, retries, ms: performance.now() - t0 };
}
