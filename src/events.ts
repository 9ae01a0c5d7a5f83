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

export interface MigrationEvent extends Span {
  readonly type: 'migration';
  readonly direction: 'to-device' | 'to-host';
  readonly cause: MigrationCause;
  /** Pages copied (to the device: not counting cleared ones). */
  readonly pages: number;
  readonly bytes: number;
  /** Unpopulated pages given a zeroed frame instead of a copy (to-device only). */
  readonly cleared: number;
  /** The pages copied, ascending (`pages` of them). */
  readonly pageList: Uint32Array;
  /** The pages given a zeroed frame, ascending (`cleared` of them; always empty to the host). */
  readonly clearedList: Uint32Array;
}

export interface EvictionEvent extends Base {
  readonly type: 'eviction';
  readonly pages: number;
  readonly writebacks: number;
  readonly drops: number;
  /** The pages that lost their frame. */
  readonly pageList: Uint32Array;
}

export interface InvalidatedEvent extends Base {
  readonly type: 'invalidation';
  readonly addr: number;
  readonly byteLength: number;
  readonly pagesDropped: number;
  readonly pagesWrittenThrough: number;
}

export interface FaultBatchEvent extends Base {
  readonly type: 'fault-batch';
  readonly kernel: string;
  readonly misses: number;
  readonly hints: number;
  readonly writes: number;
  /** The pages invocations missed on (not the hints). */
  readonly pageList: Uint32Array;
}

export interface PassEvent extends Span {
  readonly type: 'pass';
  readonly kernel: string;
  readonly mode: 'declared' | 'probe' | 'commit' | 'replay';
  readonly aborted: boolean;
  readonly workgroups: number;
}

export interface DispatchEvent extends Span {
  readonly type: 'dispatch';
  readonly kernel: string;
  readonly mode: 'declared' | 'transaction' | 'replay';
  /** The error code when it failed. */
  readonly error?: string;
}

export interface HostEvent extends Span {
  readonly type: 'host';
  readonly op: HostOp;
  readonly addr: number;
  readonly byteLength: number;
  /** alloc: the allocation's label, if it was given one. */
  readonly label?: string;
}

export interface ViolationEvent extends Base {
  readonly type: 'violation';
  readonly kernel: string;
  readonly count: number;
}

/** Strict mode: a dispatch declared `expectNoFaults` had to bring pages in. */
export interface UnexpectedFaultEvent extends Base {
  readonly type: 'unexpected-fault';
  readonly kernel: string;
  readonly pages: number;
  readonly pageList: Uint32Array;
}

/** Strict mode: host bytes of device-valid pages changed without going through the runtime. */
export interface BypassEvent extends Base {
  readonly type: 'bypass';
  readonly kernel: string;
  readonly ranges: readonly { readonly addr: number; readonly byteLength: number }[];
}

/**
 * The thrashing policy (src/policy/thrashing.ts) found pages moving back and
 * forth between host and device: `migrations` hand-overs within `lapseMs`.
 * One event per run of consecutive pages found in one step.
 */
export interface ThrashingEvent extends Base {
  readonly type: 'thrashing';
  readonly addr: number;
  readonly byteLength: number;
  readonly pages: number;
  /** Host↔device migrations of these pages within the lapse (the most of any of them). */
  readonly migrations: number;
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
  readonly type: 'pressure';
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
  readonly limitBytes: number;
  /** eviction-storm: pages evicted within the window; thrashing: pages reported thrashing; high-water: 0. */
  readonly pages: number;
  /** eviction-storm: the window (ms); 0 otherwise. */
  readonly windowMs: number;
}

export type HmmEvent =
  | MigrationEvent | EvictionEvent | InvalidatedEvent | FaultBatchEvent | PassEvent
  | DispatchEvent | HostEvent | ViolationEvent | UnexpectedFaultEvent | BypassEvent | ThrashingEvent | PressureEvent;

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
