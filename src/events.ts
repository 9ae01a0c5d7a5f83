// The event stream: every migration (with its cause), eviction, invalidation,
// pin, fault batch, pass, dispatch, host operation, violation, thrashing
// detection and memory pressure, as plain records with timestamps, byte counts
// and the pages involved. One bus per pool (migrations and evictions cross
// spaces). Emitters test `bus.active` before building a record (or taking a
// start time), so the stream costs a property read when nobody listens.
// Listeners cannot break the runtime: one that throws is removed and its error
// reported once on the console.
//
// Consumers in this package: the ledger (ledger.ts, bytes per allocation), the
// Chrome trace (chrome-trace.ts) and the demos' residency heatmaps. Page lists
// are fresh arrays a listener may keep.

/** Why pages moved. */
export type MigrationCause =
  | 'declared' // a declared-range dispatch faulted them in
  | 'demand' // a demand-paged dispatch missed on them (or was hinted at them)
  | 'explicit' // the host asked: read, pin, a partial write of a device-only page
  | 'eviction' // a frame was taken for another page; dirty data went home first
  | 'snapshot' // a transaction's write set was made host-valid before its commit
  | 'restore' // an aborted commit's pages were copied back from the host snapshot
  | 'prefetch' // density prefetch added them to a demand fault, or space.prefetch() asked for them
  | 'durable'; // a durable space wrote a dispatch's device-dirty pages home before it resolved

export const MIGRATION_CAUSES: readonly MigrationCause[] = ['declared', 'demand', 'explicit', 'eviction', 'snapshot', 'restore', 'prefetch', 'durable'];

/** Host-side operations of a space, as spans on the trace's host track. */
export type HostOp = 'write' | 'read' | 'view-read' | 'view-write' | 'pin' | 'unpin' | 'alloc' | 'free' | 'prefetch' | 'advise';

interface Base {
  /** performance.now() when it happened (for spans: when it ended). */
  readonly time: number;
  /** The space's label. */
  readonly space: string;
  /** The space's id in its pool (labels need not be unique). */
  readonly spaceId: number;
}

interface Span extends Base {
  /** performance.now() when it began. */
  readonly start: number;
}

/** Pages copied between host and device (one event per copy batch of one space), with why they moved. */
export interface MigrationEvent extends Span {
  /** Discriminant of {@link HmmEvent}. */
  readonly type: 'migration';
  /** Which way the bytes went. */
  readonly direction: 'to-device' | 'to-host';
  /** Why the pages moved. */
  readonly cause: MigrationCause;
  /** Pages copied (to the device: not counting cleared ones). */
  readonly pages: number;
  /** Bytes copied (`pages` × page size; cleared pages copy nothing). */
  readonly bytes: number;
  /** Unpopulated pages given a zeroed frame instead of a copy (to-device only). */
  readonly cleared: number;
  /** The pages copied, ascending (`pages` of them). */
  readonly pageList: Uint32Array;
  /** The pages given a zeroed frame, ascending (`cleared` of them; always empty to the host). */
  readonly clearedList: Uint32Array;
}

/** Pages of one space lost their device frame to make room (dirty ones were first written back to the host). */
export interface EvictionEvent extends Base {
  /** Discriminant of {@link HmmEvent}. */
  readonly type: 'eviction';
  /** Pages evicted (`writebacks + drops`). */
  readonly pages: number;
  /** Evicted pages that were device-dirty and were copied home first. */
  readonly writebacks: number;
  /** Evicted pages whose host copy was current: their frame was simply dropped. */
  readonly drops: number;
  /** The pages that lost their frame. */
  readonly pageList: Uint32Array;
}

/** A host write made device copies stale: they were dropped, or, for pages kept on the device, written through to their frames. */
export interface InvalidatedEvent extends Base {
  /** Discriminant of {@link HmmEvent}. */
  readonly type: 'invalidation';
  /** First byte address of the host write. */
  readonly addr: number;
  /** Length in bytes of the host write. */
  readonly byteLength: number;
  /** Pages whose device copy was dropped (they fault in again when next needed). */
  readonly pagesDropped: number;
  /** Resident pages kept on the device (pinned, held by the thrashing policy, or advised to the device) whose frames got the written bytes. */
  readonly pagesWrittenThrough: number;
}

/** What one demand-paged pass faulted on, before the runtime served the faults. */
export interface FaultBatchEvent extends Base {
  /** Discriminant of {@link HmmEvent}. */
  readonly type: 'fault-batch';
  /** The kernel's label. */
  readonly kernel: string;
  /** Pages an invocation needed and found without a frame (it stalled there). */
  readonly misses: number;
  /** Pages missed by invocations that had already stalled: speculative hints, which may be wrong. */
  readonly hints: number;
  /** Pages a store or atomic wanted to write without write permission yet. */
  readonly writes: number;
  /** The pages invocations missed on (not the hints). */
  readonly pageList: Uint32Array;
}

/** One GPU pass of a dispatch (a dispatch runs one pass when declared, several when demand-paged). */
export interface PassEvent extends Span {
  /** Discriminant of {@link HmmEvent}. */
  readonly type: 'pass';
  /** The kernel's label. */
  readonly kernel: string;
  /**
   * `'declared'`: a declared-range pass; `'probe'`: a read-only demand pass that finds the pages a
   * transaction needs; `'commit'`: the transaction's real run; `'replay'`: a pass of an idempotent kernel.
   */
  readonly mode: 'declared' | 'probe' | 'commit' | 'replay';
  /** A commit pass that missed or stored outside its snapshot, so its results were discarded (always false for other modes). */
  readonly aborted: boolean;
  /** Workgroups the pass covered. */
  readonly workgroups: number;
}

/** One `space.dispatch()` from call to result (or failure), spanning all its passes. */
export interface DispatchEvent extends Span {
  /** Discriminant of {@link HmmEvent}. */
  readonly type: 'dispatch';
  /** The kernel's label. */
  readonly kernel: string;
  /** How it ran: declared ranges, a demand-paged transaction, or demand-paged replay of an idempotent kernel. */
  readonly mode: 'declared' | 'transaction' | 'replay';
  /** The error code when it failed. */
  readonly error?: string;
}

/** A host-side operation of a space (write, read, view, pin, alloc, …) as a span. */
export interface HostEvent extends Span {
  /** Discriminant of {@link HmmEvent}. */
  readonly type: 'host';
  /** Which operation. */
  readonly op: HostOp;
  /** First byte address of the operation's range. */
  readonly addr: number;
  /** Length in bytes of the operation's range. */
  readonly byteLength: number;
  /** alloc: the allocation's label, if it was given one. */
  readonly label?: string;
}

/** A dispatch made accesses it was not allowed to (see {@link AccessViolationError}). */
export interface ViolationEvent extends Base {
  /** Discriminant of {@link HmmEvent}. */
  readonly type: 'violation';
  /** The kernel's label. */
  readonly kernel: string;
  /** How many accesses were refused. */
  readonly count: number;
}

/** Strict mode: a dispatch declared `expectNoFaults` had to bring pages in. */
export interface UnexpectedFaultEvent extends Base {
  /** Discriminant of {@link HmmEvent}. */
  readonly type: 'unexpected-fault';
  /** The kernel's label. */
  readonly kernel: string;
  /** Pages the dispatch had to bring in. */
  readonly pages: number;
  /** Those pages, ascending. */
  readonly pageList: Uint32Array;
}

/** Strict mode: host bytes of device-valid pages changed without going through the runtime. */
export interface BypassEvent extends Base {
  /** Discriminant of {@link HmmEvent}. */
  readonly type: 'bypass';
  /** The label of the kernel whose dispatch found the bypass (and did not run). */
  readonly kernel: string;
  /** The ranges whose host bytes changed behind the runtime. */
  readonly ranges: readonly {
    /** First byte address of the range. */
    readonly addr: number;
    /** Length of the range in bytes. */
    readonly byteLength: number;
  }[];
}

/**
 * The thrashing policy (src/policy/thrashing.ts) found pages moving back and
 * forth between host and device: `migrations` hand-overs within `lapseMs`.
 * One event per run of consecutive pages found in one step.
 */
export interface ThrashingEvent extends Base {
  /** Discriminant of {@link HmmEvent}. */
  readonly type: 'thrashing';
  /** First byte address of the run of pages. */
  readonly addr: number;
  /** Length in bytes of the run of pages. */
  readonly byteLength: number;
  /** Pages in the run. */
  readonly pages: number;
  /** Host↔device migrations of these pages within the lapse (the most of any of them). */
  readonly migrations: number;
  /** The detector's time window in milliseconds. */
  readonly lapseMs: number;
  /** 'pin': kept on the device for `pinMs` (evicted only as a last resort, host writes written through); 'none': only reported. */
  readonly mitigation: 'pin' | 'none';
  /** 0 when the mitigation is 'none'. */
  readonly pinMs: number;
  /** The pages, ascending. */
  readonly pageList: Uint32Array;
}

/** What a pressure event reports (src/trace/pressure.ts). */
export type PressureKind =
  | 'high-water' // device bytes in use reached the high mark of the capacity (or of a group's max)
  | 'eviction-storm' // more pages evicted within the window than the threshold
  | 'thrashing'; // forwarded from the thrashing detector's 'thrashing' event (src/policy/)

/**
 * Memory pressure. `space`/`spaceId` name the space whose event revealed it
 * (the pool as a whole is under pressure, not that space).
 */
export interface PressureEvent extends Base {
  /** Discriminant of {@link HmmEvent}. */
  readonly type: 'pressure';
  /** What kind of pressure. */
  readonly kind: PressureKind;
  /**
   * high-water: 'begin' at the high mark, 'end' at the low mark or below. eviction-storm: 'begin' once per
   * storm, 'end' when the window's evictions fall back (src/trace/pressure.ts). thrashing: 'begin' only.
   */
  readonly phase: 'begin' | 'end';
  /**
   * The memory group whose limit was hit, by its path ('parent/child'): high-water of that group's max (its
   * subtree's usage), or the group whose max made most of an eviction storm's evictions. Absent: the pool.
   */
  readonly group?: string;
  /** Device bytes in use now, by the group's subtree or the pool, and its limit (the group's max in force, or the capacity). */
  readonly usedBytes: number;
  /** The limit `usedBytes` is measured against: the group's max in force, or the pool's capacity. */
  readonly limitBytes: number;
  /** eviction-storm: pages evicted within the window; thrashing: pages reported thrashing; high-water: 0. */
  readonly pages: number;
  /** eviction-storm: the window (ms); 0 otherwise. */
  readonly windowMs: number;
}

/**
 * Every record of the event stream; switch on `type`. Timestamps are `performance.now()`
 * milliseconds; page numbers are page indices of the event's space.
 */
export type HmmEvent =
  | MigrationEvent | EvictionEvent | InvalidatedEvent | FaultBatchEvent | PassEvent
  | DispatchEvent | HostEvent | ViolationEvent | UnexpectedFaultEvent | BypassEvent | ThrashingEvent | PressureEvent;

/** A listener of `pool.on(listener)`: hears every record of the pool's spaces. A listener that throws is removed. */
export type HmmEventListener = (event: HmmEvent) => void;

/** The listeners of one pool. */
export class EventBus {
  readonly #listeners = new Set<HmmEventListener>();
  /**
   * An internal policy that hears every event after the listeners (the pressure
   * monitor) and may emit its own. It does not make the bus active: with no
   * listener nobody could hear what it emits, so it hears nothing either.
   */
  #observer: HmmEventListener | undefined;

  get active(): boolean {
    return this.#listeners.size > 0;
  }

  /** Listeners attached now (leak checks: test/soak/). */
  get listenerCount(): number {
    return this.#listeners.size;
  }

  /** performance.now() if someone listens, else 0: the start time of a span without a cost when nobody does. */
  now(): number {
    return this.#listeners.size > 0 ? performance.now() : 0;
  }

  on(listener: HmmEventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Set the internal observer (see #observer). */
  observe(observer: HmmEventListener): void {
    this.#observer = observer;
  }

  emit(event: HmmEvent): void {
    for (const l of this.#listeners) {
      try {
        l(event);
      } catch (e) {
        this.#listeners.delete(l);
        console.error('webgpu-hmm: an event listener threw and was removed:', e);
      }
    }
    if (this.#observer && this.#listeners.size > 0) this.#observer(event);
  }
}
