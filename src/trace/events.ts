// The event stream: every migration (with its cause), eviction, invalidation,
// pin, fault batch, pass and violation, as plain records with timestamps and
// byte counts. One bus per pool (migrations and evictions cross spaces).
// Emitters test `bus.active` before building a record, so the stream costs a
// property read when nobody listens. Listeners cannot break the runtime: one
// that throws is removed and its error reported once on the console.

/** Why pages moved. */
export type MigrationCause =
  | 'declared' // a declared-range dispatch faulted them in
  | 'demand' // a demand-paged dispatch missed on them (or was hinted at them)
  | 'explicit' // the host asked: read, pin, a partial write of a device-only page
  | 'eviction' // a frame was taken for another page; dirty data went home first
  | 'snapshot' // a transaction's write set was made host-valid before its commit
  | 'restore'; // an aborted commit's pages were copied back from the host snapshot

interface Base {
  /** performance.now() when it happened. */
  readonly time: number;
  /** The space's label. */
  readonly space: string;
}

export type HmmEvent =
  | (Base & { readonly type: 'migration'; readonly direction: 'to-device' | 'to-host'; readonly cause: MigrationCause; readonly pages: number; readonly bytes: number; readonly cleared: number })
  | (Base & { readonly type: 'eviction'; readonly pages: number; readonly writebacks: number; readonly drops: number })
  | (Base & { readonly type: 'invalidation'; readonly addr: number; readonly byteLength: number; readonly pagesDropped: number; readonly pagesWrittenThrough: number })
  | (Base & { readonly type: 'pin' | 'unpin'; readonly addr: number; readonly byteLength: number })
  | (Base & { readonly type: 'fault-batch'; readonly kernel: string; readonly misses: number; readonly hints: number; readonly writes: number; readonly overflow: boolean })
  | (Base & { readonly type: 'pass'; readonly kernel: string; readonly mode: 'declared' | 'probe' | 'commit' | 'replay'; readonly aborted: boolean; readonly workgroups: number })
  | (Base & { readonly type: 'violation'; readonly kernel: string; readonly count: number });

export type HmmEventListener = (event: HmmEvent) => void;

/** The listeners of one pool. */
export class EventBus {
  readonly #listeners = new Set<HmmEventListener>();

  get active(): boolean {
    return this.#listeners.size > 0;
  }

  on(listener: HmmEventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
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
  }
}
