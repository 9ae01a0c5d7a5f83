// The policy plug-in interface: UVM's perf modules (perf_prefetch,
// perf_thrashing) in this runtime. A policy hears what the mechanisms did —
// a demand fault batch, a migration, an invalidation — and answers with a
// decision: pages to add to the fetch, pages found thrashing. It never
// changes runtime state; it sees the page table only through the read-only
// views below. The space's PolicyHub (hub.ts) feeds it and applies what it
// decides; a policy's own bookkeeping (counters, timestamps) is its private
// state, in typed arrays indexed by page.
//
// Callbacks cannot fail the runtime: a policy is advice about performance,
// and the state it would act on is consistent whether or not it answers. The
// hub calls each callback in a try/catch; a throw is a bug in the policy, so
// the policy is switched off for the rest of the space's life, the error is
// reported once on the console (as the event bus does with a listener that
// throws), and the mechanism goes on as if it had answered nothing.
//
// Advice (advice.ts) is not a plug-in: it is state the user sets, read by the
// mechanisms through pure decision functions.

/** Which side a migration or invalidation was driven by. */
export type Side = 'device' | 'host';

/** A demand fault batch, as the fault handler is about to service it. */
export interface FaultView {
  readonly pageCount: number;
  /** The pages invocations missed on in the last pass, ascending. */
  readonly faulted: readonly number[];
  /** Resident now, or about to be made resident by this round (the lock set). */
  present(p: number): boolean;
  /** Worth a frame if nobody asked for it: holds data or an allocation, and advice does not keep it on the host. */
  prefetchable(p: number): boolean;
}

/** Pages moved between host and device, with the mechanism's cause. */
export interface MigrationNote {
  readonly direction: 'to-device' | 'to-host';
  /** A MigrationCause (src/events.ts); the policy decides which ones matter to it. */
  readonly cause: string;
  readonly pages: ArrayLike<number>;
  /** performance.now() (or the hub's test clock). */
  readonly now: number;
}

/** Device copies dropped because the host wrote the pages (UVM: a revocation). */
export interface InvalidationNote {
  readonly pages: ArrayLike<number>;
  readonly now: number;
}

/** Pages found thrashing, and what the policy wants done about them. */
export interface ThrashDecision {
  /** Ascending, each at most once. */
  readonly pages: readonly number[];
  /** The most migrations within the lapse among them. */
  readonly migrations: number;
  readonly lapseMs: number;
  readonly mitigation: 'pin' | 'none';
  /** How long to keep them on the device (0 with 'none'). */
  readonly pinMs: number;
}

/** What the mechanisms let a policy read besides the note itself. */
export interface PolicyView {
  /** The page is held on the device now by an earlier decision (thrashing mitigation). */
  held(p: number): boolean;
}

export interface Policy {
  readonly name: string;
  /** A demand fault batch: pages to fetch along with the faulted ones (ascending, not present, prefetchable). */
  onFault?(view: FaultView): readonly number[];
  onMigration?(note: MigrationNote, view: PolicyView): ThrashDecision | undefined;
  onInvalidation?(note: InvalidationNote, view: PolicyView): ThrashDecision | undefined;
  /** Pages [first, end) were freed: forget what was learned about them. */
  onForget?(first: number, end: number): void;
}
