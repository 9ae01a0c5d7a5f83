// The public types of a dispatch: its options, its result, and what a demand-paged
// dispatch did to get its one clean run. Re-exported by the public barrel; the
// mechanisms that produce them are pass.ts, declared.ts and demand.ts.

import type { BoundRange, KernelResource } from './bound.ts';

/** A byte range of a space: `[addr, addr + byteLength)`. */
export interface Range {
  /** First byte address. */
  readonly addr: number;
  /** Length in bytes. */
  readonly byteLength: number;
}

/** Options of `space.dispatch()`: only `workgroups` is required. */
export interface DispatchOptions {
  /** Workgroup counts: x or [x, y, z]. */
  workgroups: number | readonly [number, number?, number?];
  /**
   * Ranges the kernel reads (and does not write). Declared mode: the only pages
   * it may read. Demand mode: a prefetch hint, made resident before the first pass.
   */
  read?: readonly Range[];
  /**
   * Ranges the kernel writes (it may read them too). Declared mode: the only
   * pages it may write. Demand mode: a hint that seeds the write set.
   */
  write?: readonly Range[];
  /** Up to 64 u32 words, read in WGSL with vm_arg_u32(i) / vm_arg_i32 / vm_arg_f32. */
  args?: ArrayLike<number>;
  /**
   * Plain kernels (createPlainKernel): the ranges of the space bound directly
   * to the kernel's `var<storage>` buffers, by group and binding — zero
   * translation. Each range is made resident in consecutive frames of one pool
   * window and bound as that window's sub-range; its pages are ordinary pages
   * before and after the dispatch (faulted in, evicted, invalidated, written
   * back), and a `read_write` range is device-dirty as a whole afterwards.
   */
  bind?: readonly BoundRange[];
  /**
   * The kernel's own resources. Plain kernels: every binding that is not a
   * storage buffer over the space, by group and binding. Prelude kernels: the
   * bindings listed in createKernel's `resources` (group 1). Never one of the
   * runtime's buffers.
   */
  resources?: readonly KernelResource[];
  /**
   * Demand paging: the kernel may touch any page of the space; pages it misses
   * are faulted in and the kernel is replayed so that the result is that of one
   * clean run (src/fault/demand.ts). Default false (declared ranges).
   */
  demand?: boolean;
  /**
   * The caller expects every page the kernel touches to be resident already
   * (pinned, or kept from an earlier dispatch). If the dispatch had to bring
   * pages in, an 'unexpected-fault' event names them; in a strict space the
   * dispatch then fails with UnexpectedFaultError (after completing: its
   * results are valid).
   */
  expectNoFaults?: boolean;
  /**
   * Abort the dispatch (src/lifetime.ts): it rejects with the signal's reason
   * (an 'AbortError' DOMException for controller.abort()) and leaves the space
   * as if it had not been issued. While it waits for its turn it rejects at
   * once. Declared: until it submits. Demand: at the next pass boundary; a
   * transaction rolls back as a failed one does, a replay keeps what its
   * completed workgroups wrote (src/fault/demand.ts). Pages it moved stay
   * valid where they are.
   */
  signal?: AbortSignal;
}

/** What a demand-paged dispatch did to get its one clean run. */
export interface DemandStats {
  /** Passes submitted in all (probe + commit + replay). */
  readonly passes: number;
  /** Read-only passes that discovered faults and write intent (transaction mode). */
  readonly probes: number;
  /** Passes whose stores landed (transaction mode). */
  readonly commits: number;
  /** Commit passes that missed or stored outside the snapshot and were rolled back. */
  readonly aborts: number;
  /** Passes of idempotent kernels (replay mode), each running only unfinished workgroups. */
  readonly replays: number;
  /**
   * Of the replays, samples: passes over each workgroup's invocation 0 only, which a slice likely to
   * find nothing resident runs before it runs whole (a second after one that missed).
   */
  readonly samples: number;
  /** Slices of the grid run one after another because one slice's working set did not fit the pool. */
  readonly slices: number;
  /** Fault batches serviced. */
  readonly faultBatches: number;
  /** Pages made resident because an invocation missed on them. */
  readonly pagesFaulted: number;
  /** Pages made resident from speculative misses (hints), when the pool had room. */
  readonly pagesPrefetched: number;
  /** Pages density prefetch fetched along with the misses (src/policy/density-prefetch.ts), when the pool had room. */
  readonly pagesDensityPrefetched: number;
  /**
   * Pages fetched before a slice's first pass because the slices before it
   * predicted them (a stream: src/policy/slice-prediction.ts), or because the
   * kernel's last dispatch the same way (grid, arguments, slice) accessed them
   * (replay mode), when the pool had room.
   */
  readonly pagesPredicted: number;
  /**
   * Device-dirty pages snapshotted before a commit: copied on the device
   * (src/migrate/device-snapshot.ts), or written back to the host when the
   * dispatch is sliced or the snapshot would pass the write-back cap.
   */
  readonly snapshotPages: number;
  /** Pages restored from the snapshot after an aborted commit. */
  readonly restoredPages: number;
  /**
   * Resumable kernels (vm_save_u32): invocations whose saved state moved on in a pass that
   * stalled them, summed over the passes — how far chases got between their stalls.
   */
  readonly resumedAdvances: number;
}

/** What a dispatch did, from `space.dispatch()`'s promise. */
export interface DispatchResult {
  /** 'declared' ranges; demand paging as a 'transaction' (any kernel) or by 'replay' (idempotent kernels). */
  readonly mode: 'declared' | 'transaction' | 'replay';
  /** Pages copied host → device for this dispatch. */
  readonly pagesUploaded: number;
  /** Unpopulated pages given a zeroed frame. */
  readonly pagesCleared: number;
  /** Bytes copied host → device for this dispatch (`pagesUploaded` × page size). */
  readonly bytesUploaded: number;
  /** Frames taken from other pages to make room. */
  readonly evictions: number;
  /** Evicted pages whose device-dirty data was written back first. */
  readonly writebacks: number;
  /** Times the fault-in restarted because a host write invalidated a page meanwhile. */
  readonly retries: number;
  /** Milliseconds from the call to the end of the kernel (including fault-in). */
  readonly ms: number;
  /** Demand mode only. */
  readonly demand?: DemandStats;
  /** Bound dispatches (`bind`): pages moved inside the pool to make the ranges' runs contiguous (compaction). */
  readonly pagesCompacted?: number;
}
