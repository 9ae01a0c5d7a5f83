// The migration record: the one place a finished migration is noted, like
// UVM's uvm_perf_event_notify_migration. The mechanisms that move pages —
// the fault-in (makeResident), write-backs, eviction write-backs as they
// land, the restore of an aborted commit, the upload of pinned pages on a new
// device — each build one record per cause after the page table's
// transitions are done, and call noteMigration(). Everything that counts or
// reacts to migrations subscribes here, in this order:
//
//   pool counters       pages and bytes each way, pages cleared (pool.stats())
//   page table          per-page migration counts (countMigration)
//   strict mode         the hash of every page whose device copy now equals its
//                       host bytes (src/space/strict.ts)
//   event stream        one 'migration' event (the ledger and the trace hear it)
//   policies            the space's policy hub (thrashing counts hand-overs)
//
// A new observer, or a new cause, is one edit here; the totals cannot drift
// apart (test/migrate/record.dawn.test.ts adds every event up against the
// counters for each cause).

import type { MigrationCause } from '../events.ts';
import type { SpaceCore } from '../space/state.ts';

export interface MigrationRecord {
  readonly space: SpaceCore;
  readonly direction: 'to-device' | 'to-host';
  readonly cause: MigrationCause;
  /** Pages copied, ascending. */
  readonly pages: readonly number[];
  /** To the device: unpopulated pages given a zeroed frame instead of a copy, ascending. */
  readonly cleared: readonly number[];
  /** events.now() when the migration began (0 when nobody listened then). */
  readonly start: number;
  /**
   * Pages density prefetch added to a demand fault (cause 'prefetch'): they
   * rode along with a migration the kernel asked for. Policies that count
   * hand-overs hear only the pages a dispatch or the host asked for.
   */
  readonly alongside?: boolean;
}

type Observer = (r: MigrationRecord) => void;

const EMPTY = new Uint32Array(0);

const observers: readonly Observer[] = [
  function poolCounters(r) {
    const c = r.space.pool.counters;
    const bytes = r.pages.length * r.space.pageSize;
    if (r.direction === 'to-device') {
      c.pagesToDevice += r.pages.length;
      c.bytesToDevice += bytes;
      c.pagesCleared += r.cleared.length;
    } else {
      c.pagesToHost += r.pages.length;
      c.bytesToHost += bytes;
    }
  },
  function pageCounts(r) {
    const t = r.space.table;
    for (const p of r.pages) t.countMigration(p, r.direction);
  },
  function strictHashes(r) {
    const b = r.space.bypass;
    if (!b) return;
    // Pages that keep a device copy equal to their host bytes: its hash is the reference from now on.
    const t = r.space.table;
    for (const p of r.pages) if (t.isResident(p)) b.record(p);
    for (const p of r.cleared) if (t.isResident(p)) b.recordCleared(p);
  },
  function event(r) {
    const bus = r.space.pool.events;
    if (!bus.active) return;
    const s = r.space;
    bus.emit({
      type: 'migration', time: performance.now(), start: r.start, space: s.label, spaceId: s.id, direction: r.direction, cause: r.cause,
      pages: r.pages.length, bytes: r.pages.length * s.pageSize, cleared: r.cleared.length,
      pageList: Uint32Array.from(r.pages), clearedList: r.cleared.length ? Uint32Array.from(r.cleared) : EMPTY,
    });
  },
  function policies(r) {
    r.space.policies.heard(r);
  },
];

/** A migration finished: tell every observer (see the header). Records with no page are dropped. */
export function noteMigration(r: MigrationRecord): void {
  if (r.pages.length + r.cleared.length === 0) return;
  for (const o of observers) o(r);
}
