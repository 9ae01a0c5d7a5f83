// The public face of an address space: host access (copy in/out, scoped
// views), allocation, pinning, dispatch and notifier subscriptions. It holds
// no state of its own beyond the ordering of host operations; everything else
// lives in SpaceCore and the mechanisms (migrate/, fault/, notify/).
//
// Ordering — the contract: every operation on a space takes effect in the
// order it was issued, like a GPUQueue, in declared and demand mode alike.
//
//   host op (read, write, view, free)   completes synchronously when nothing
//       it must follow is pending; otherwise it joins the space's chain (one
//       FIFO of host operations), after waiting for the earlier dispatches it
//       conflicts with: a read waits for those that declared a page it reads
//       as written, a write for those that declared any page it writes.
//       Independent work still overlaps.
//   host op during an invalidation      (from a subscriber or a writable view's
//       callback) joins the chain, so it runs after the host write that is
//       invalidating — never nested inside it.
//   declared dispatch                   waits for the host operations issued
//       before it (the chain's tail at the call) and for the previous
//       dispatch's submit (queue order then runs them in issue order); it is
//       registered with its declared pages at the call, synchronously.
//   demand dispatch                     joins the chain (its pages are not known
//       in advance: every later host op waits for it), and also waits for the
//       previous dispatch's submit.
//
// An operation given an AbortSignal (read, withView, prefetch, dispatch) keeps
// its place in that order when it is aborted: its slot stays and does nothing
// when its turn comes, so nothing issued after it moves ahead of what was
// issued before it (src/lifetime.ts draws the phases).
//
// Lifetimes: `using space` destroys it at the end of the scope; `await using`
// first takes no new operation and waits for those issued before (the tracked
// promises and the chain), then destroys it. The space is also an EventTarget
// (src/event-target.ts) that hears its own records from the pool's bus.

import { assert } from '../assert.ts';
import { DestroyedError, HmmError, InvalidArgumentError, NotPinnedError, PinLimitError, PoolMismatchError } from '../errors.ts';
import type { GroupImpl, MemoryGroup } from '../device/groups.ts';
import { lossError } from '../device/loss.ts';
import type { Pool } from '../device/pool.ts';
import { registerFacade, spacePool, type SpacePool } from '../space/state.ts';
import { runDispatch } from '../fault/dispatch.ts';
import { checkDispatch, compileFor, rangePages, type DispatchOrder } from '../fault/pass.ts';
import type { DispatchOptions, DispatchResult, Range } from '../fault/dispatch-types.ts';
import { plainPipelineFor } from '../kernel/plain.ts';
import { replayForms } from '../kernel/pipelines.ts';
import { beginInterop, type SpaceInterop } from '../fault/interop.ts';
import { recordBytes } from '../fault/records.ts';
import { checkKernel, type Kernel } from '../kernel/kernel.ts';
import { writeBack } from '../migrate/migrate.ts';
import type { InvalidateCallback, IntervalSubscription } from '../notify/notifier.ts';
import {
  checkByteCount, DEFAULT_ALIGNMENT, DEFAULT_DURABLE, MAX_PAGE_SIZE, MAX_SPACE_SIZE, resolveDensityPrefetch, resolveThrashing,
  type DensityPrefetchOptions, type ThrashingOptions,
} from '../options.ts';
import { SpaceCore, type SpaceBacking } from '../space/state.ts';
import { ADVICE_MASK, MAX_PINS, PAGE_STATE_NAMES, PageFlag, PageState, type PageStateName } from '../space/page-table.ts';
import type { HostOp } from '../events.ts';
import { HmmEventTarget, type SpaceEventMap, type TypedEventTarget } from '../event-target.ts';
import { ASYNC_DISPOSE, cancellation, DISPOSE, type Cancellation } from '../lifetime.ts';
import { adviceBits, adviceOf, type Advice, type AdviceState } from '../policy/advice.ts';
import { PolicyHub, type SpacePolicies } from '../policy/hub.ts';
import { prefetchToDevice, prefetchToHost, type PrefetchResult } from '../migrate/prefetch.ts';
import { pinPages, unpinPages } from '../migrate/pin.ts';

/** Options of {@link createSpace}: only `size` is required. */
export interface SpaceOptions {
  /**
   * Bytes of virtual address space: a multiple of the pool's page size, at most 1 TiB
   * (MAX_SPACE_SIZE). Kernels address a space over 4 GiB (MAX_NARROW_SPACE_SIZE) with VmPtr.
   */
  size: number;
  /** A label for errors and GPU objects. */
  label?: string;
  /**
   * Strict mode (default false): before every dispatch, find host writes that
   * bypassed the runtime (pages valid on the device whose host bytes changed
   * since they were last copied) and refuse with HostBypassError; a dispatch
   * made with `expectNoFaults` that brought pages in fails with
   * UnexpectedFaultError. Costs a hash of every page that moves and of every
   * resident page per dispatch; meant to be left on in tests.
   */
  strict?: boolean;
  /**
   * Durable mode (default false, src/options.ts DEFAULT_DURABLE): every
   * dispatch writes the pages it made device-dirty back to host memory before
   * its promise settles, so no page is ever valid only on the device between
   * dispatches and a device loss loses nothing: a dispatch that resolved has
   * its results in host memory, one that failed with the loss left its pages
   * as they were before it. The cost is one read-back of every page a
   * dispatch writes, every dispatch, where a non-durable space reads a page
   * back only when the host reads it or an eviction needs its frame (counted
   * in test/device/durable.dawn.test.ts: 8 dispatches over the same 16 pages
   * of 4 KiB moved 8 × 64 KiB = 512 KiB to the host, against 64 KiB for the
   * final read of a non-durable space).
   */
  durable?: boolean;
  /**
   * The memory group the space belongs to (from createGroup on the same pool):
   * its device memory counts toward the group's max, min and pin limit.
   * Default: the pool's root group, which has no limits.
   */
  group?: MemoryGroup;
  /**
   * Density prefetch for demand faults (UVM's perf_prefetch;
   * src/policy/density-prefetch.ts): true (default), false, or
   * { enabled?, threshold? (0.51), blockSize? (2 MiB) }.
   */
  densityPrefetch?: DensityPrefetchOptions | boolean;
  /**
   * Thrashing detection and mitigation (UVM's perf_thrashing;
   * src/policy/thrashing.ts): true (default), false, or
   * { enabled?, threshold? (3), lapseMs? (50), mitigation? ('pin' | 'none'), pinMs? (500) }.
   */
  thrashing?: ThrashingOptions | boolean;
}

/** Options of `space.prefetch()`. */
export interface PrefetchOptions {
  /** Where the range should be: 'device' (made resident) or 'host' (written back, device copies dropped). */
  to: 'device' | 'host';
  /**
   * Abort the prefetch: it rejects with the signal's reason at once while it
   * waits for its turn, else between two migrations; the pages moved so far
   * stay where they went, valid (src/migrate/prefetch.ts).
   */
  signal?: AbortSignal;
}

/** Options of a host read (space.read, space.withView). */
export interface ReadOptions {
  /**
   * Abort the read while it waits — for earlier dispatches, for the space's
   * queue, for pages to come home from the device: it rejects with the
   * signal's reason at once and is taken out of the queue (later operations
   * go on in their order). A read that can complete at once completes.
   */
  signal?: AbortSignal;
}

/** Page counts by state over a range, from `space.residency()`. */
export interface Residency {
  /** Pages in each state within the range asked about. */
  readonly unpopulated: number;
  /** Pages valid only in host memory. */
  readonly host: number;
  /** Pages valid only on the device ("device-dirty": their host bytes are stale until read back). */
  readonly device: number;
  /** Pages valid and identical on both sides. */
  readonly shared: number;
  /** Pages pinned (at least once), whatever their state. */
  readonly pinned: number;
  /**
   * Bytes with a frame on the device: device and shared pages, except device
   * pages an eviction is writing back right now (no frame any more; they count
   * as `device` until the copy lands, which every dispatch waits for).
   */
  readonly residentBytes: number;
  /** Bytes whose only valid copy is on the device (or on its way home from it). */
  readonly deviceDirtyBytes: number;
}

/** How `withView` uses the view: `'read'` brings the latest data home first; `'write'` also invalidates the device copies first. */
export type ViewMode = 'read' | 'write';

/**
 * A space is also an EventTarget (src/event-target.ts): `addEventListener('migration', (e) => e.detail…)`
 * hears the records of this space only (those whose spaceId is its own), one CustomEvent per record.
 */
export interface AddressSpace extends TypedEventTarget<SpaceEventMap> {
  /** Bytes of virtual address space (as created). */
  readonly size: number;
  /** Page size in bytes: the pool's. */
  readonly pageSize: number;
  /** The pool whose device memory the space pages into. */
  readonly pool: Pool;
  /** The label given at creation (default `'space'`), used in errors, events and GPU object labels. */
  readonly label: string;
  /** The memory group it belongs to (the pool's root group when created without one). */
  readonly group: MemoryGroup;
  /**
   * Allocate `byteLength` bytes aligned to `align` (default 16). Never returns 0.
   * `label` names the allocation in the ledger and the trace. Throws
   * OutOfVirtualMemoryError when no free block of the space is large enough.
   *
   * @example
   * ```ts
   * const a = space.alloc(1024 * 4, { label: 'input' });
   * await space.write(a, new Float32Array(1024).fill(1));
   * ```
   */
  alloc(byteLength: number, options?: { align?: number; label?: string }): number;
  /** Free an allocation; its whole pages drop their device copies and read as zero. */
  free(addr: number): void;
  /**
   * Copy bytes into the space. Device copies of the pages are invalidated first.
   * The bytes are taken at the call (the caller may reuse its buffer at once).
   */
  write(addr: number, data: ArrayBufferView | ArrayBuffer | SharedArrayBuffer): Promise<void>;
  /**
   * Copy bytes out. Pages whose latest copy is on the device are brought back first.
   *
   * @example
   * ```ts
   * const out = new Float32Array((await space.read(a, n * 4)).buffer);
   * ```
   */
  read(addr: number, byteLength: number, options?: ReadOptions): Promise<Uint8Array>;
  /**
   * Run `fn` on a view of the host bytes of the range. 'read': the view holds
   * the latest data. 'write': device copies are invalidated first, so whatever
   * `fn` writes is what the next dispatch sees. The view is valid only during
   * `fn`, which must be synchronous: an async function is refused with
   * InvalidArgumentError before anything runs, and a function that returns a
   * promise fails with it after (what it wrote before returning has landed).
   * The view is the host memory itself (zero-copy) where it can be: a range
   * across host segments (64 MiB) is joined into one buffer on the first
   * view, up to 1 GiB (HOST_JOIN_MAX); past that, or for a read of memory never
   * written, `fn` gets a copy. Never write through a 'read' view.
   * Host operations `fn` calls on this space run after it, in issue order.
   * An aborted `signal` takes it out of the queue before `fn` runs (ReadOptions).
   *
   * @example
   * ```ts
   * await space.withView(a, 16, 'write', (bytes) => {
   *   new DataView(bytes.buffer, bytes.byteOffset).setFloat32(0, 1.5, true);
   * });
   * ```
   */
  withView<R>(addr: number, byteLength: number, mode: ViewMode, fn: (view: Uint8Array) => R, options?: ReadOptions): Promise<R>;
  /** Make the pages of the range resident and keep them there until unpinned. */
  pin(addr: number, byteLength: number): Promise<void>;
  /** Drop one pin of each page of the range. Works while the device is lost (see pool.recover). */
  unpin(addr: number, byteLength: number): void;
  /**
   * Move the range ahead of its use, like cudaMemPrefetchAsync. The host may
   * go on meanwhile: host operations that need no page from the device are
   * not held up (a host write racing with the copy wins, and its page is left
   * on the host); those that do wait for it as they would for a dispatch's
   * migrations. 'device': the
   * pages become resident, evicting unpinned others, as far as they fit (a
   * range larger than the pool is not an error: the rest are skipped).
   * 'host': device-dirty pages are written back and the device copies
   * dropped, except pinned and read-mostly pages. Resolves when the pages are
   * in place in the page table: uploads are submitted (queue order lands them
   * before any later dispatch), write-backs have landed. Details:
   * src/migrate/prefetch.ts.
   */
  prefetch(addr: number, byteLength: number, options: PrefetchOptions): Promise<PrefetchResult>;
  /**
   * Advice for the whole pages of the range, like cudaMemAdvise: any of
   * `readMostly`, `preferredLocation` ('host' | 'device' | 'none'),
   * `accessedBy` ('device' | 'none'); keys not given are left as they were.
   * Takes effect at once and moves nothing by itself; freeing an allocation
   * clears the advice of its whole pages. What each means here:
   * src/policy/advice.ts.
   */
  advise(addr: number, byteLength: number, advice: Advice): void;
  /** The advice in force on the page holding `addr`. */
  advice(addr: number): AdviceState;
  /**
   * Run a kernel over the space; resolves when it has finished on the GPU.
   * Declared mode (default): the kernel may touch only the `read`/`write`
   * ranges. `demand: true`: it may touch any page; misses are faulted in and
   * the result is that of one clean run (src/fault/demand.ts).
   *
   * @example
   * ```ts
   * // Declared: the kernel writes only [a, a + n*4); args are read in WGSL with vm_arg_u32(i).
   * await space.dispatch(scale, { workgroups: n / 64, write: [{ addr: a, byteLength: n * 4 }], args });
   * // Demand-paged: any page may be touched; misses are faulted in.
   * await space.dispatch(walk, { workgroups: 1, demand: true, args: new Uint32Array([root]) });
   * ```
   */
  dispatch(kernel: Kernel, options: DispatchOptions): Promise<DispatchResult>;
  /**
   * Bind this space's pages into a pipeline of your own (guide: "Your own
   * passes over a space"): the ranges are pinned (resident, never evicted or
   * moved) and the device page table is flushed; the result holds a bind group
   * over the page table and the pool's windows, its documented layout, and WGSL
   * that translates virtual addresses. Call `end()` once your passes are
   * submitted: the `write` ranges become device-dirty and the pins go.
   * Your passes are not checked: the windows hold every space's frames.
   */
  interop(options: { read?: readonly Range[]; write?: readonly Range[] }): Promise<SpaceInterop>;
  /**
   * Compile `kernel` for this space's pool now (errors early); dispatch does it
   * on first use. Declared and demand dispatches use different variants: pass
   * `{ demand: true }` for the one demand dispatches run.
   */
  compile(kernel: Kernel, options?: { demand?: boolean }): Promise<void>;
  /** Hear about host writes to [addr, addr + byteLength), with sequence numbers for retry loops. */
  subscribe(addr: number, byteLength: number, onInvalidate?: InvalidateCallback): IntervalSubscription;
  /** The state of the page holding `addr`. */
  pageState(addr: number): PageStateName;
  /** Page counts by state over a range (default: the whole space). */
  residency(addr?: number, byteLength?: number): Residency;
  /** Check the page table's invariants and the pool's frame table; throws on a broken one. For tests. */
  checkInvariants(): void;
  /** Give back this space's frames and GPU buffers. Device-only data is lost: read it first. */
  destroy(): void;
  /** `using space = createSpace(…)`: destroy() now, when the scope ends. */
  [Symbol.dispose](): void;
  /**
   * `await using space = createSpace(…)`: when the scope ends, take no new
   * operation (DestroyedError), wait for those issued before to settle, then
   * destroy().
   */
  [Symbol.asyncDispose](): Promise<void>;
}

const ASYNC_VIEW =
  'withView: the callback must be synchronous (the view is valid only while it runs); ' +
  'read or write the bytes in a plain function, or use space.read() / space.write() from async code.';

function isThenable(v: unknown): boolean {
  return (typeof v === 'object' || typeof v === 'function') && v !== null && typeof (v as { then?: unknown }).then === 'function';
}

function toBytes(data: ArrayBufferView | ArrayBuffer | SharedArrayBuffer): Uint8Array {
  if (data instanceof ArrayBuffer || (typeof SharedArrayBuffer !== 'undefined' && data instanceof SharedArrayBuffer)) return new Uint8Array(data);
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  throw new InvalidArgumentError('write: data must be an ArrayBuffer, a SharedArrayBuffer or a typed array / DataView over one');
}

/** A declared dispatch issued and not settled yet: later host operations that touch its pages wait for it. */
interface InFlightDispatch {
  /** Declared read-only and written pages, ascending. */
  readonly read: Uint32Array;
  readonly write: Uint32Array;
  /** Resolves (never rejects) when the dispatch has settled. */
  readonly settled: Promise<void>;
}

/** Does ascending `pages` hold a page in [first, last]? */
function hits(pages: Uint32Array, first: number, last: number): boolean {
  let lo = 0;
  let hi = pages.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (pages[mid]! < first) lo = mid + 1;
    else hi = mid;
  }
  return lo < pages.length && pages[lo]! <= last;
}

export class AddressSpaceImpl extends HmmEventTarget<SpaceEventMap> implements AddressSpace {
  readonly #core: SpaceCore;
  readonly #pool: SpacePool;
  readonly #durable: boolean;
  #tail: Promise<unknown> = Promise.resolve();
  #pending = 0;
  /** Declared dispatches in flight, in issue order (see the header). */
  readonly #inFlight = new Set<InFlightDispatch>();
  /** Resolves when the last dispatch issued has submitted (or settled): the next one submits after it. */
  #lastSubmit: Promise<void> = Promise.resolve();

  readonly #group: GroupImpl;
  /** Operations issued and not settled (an async dispose waits for them). */
  readonly #ops = new Set<Promise<unknown>>();
  /** [Symbol.asyncDispose]() was called: no new operation is taken. */
  #disposing = false;
  /** Leaves the pool's event bus: set while the space's EventTarget has listeners. */
  #unforward: (() => void) | undefined;

  constructor(
    pool: SpacePool, size: number, label: string, strict: boolean, durable: boolean, policies: SpacePolicies, group: GroupImpl, backing: SpaceBacking = {},
  ) {
    super();
    this.#pool = pool;
    this.#durable = durable;
    this.#group = group;
    this.#core = pool.registerSpace((id) => new SpaceCore(id, pool, size, label, strict, (core) => new PolicyHub(core, policies), backing));
    registerFacade(this, this.#core);
    pool.groups.assign(this.#core.id, group);
  }

  get group(): MemoryGroup { return this.#group; }

  get size(): number { return this.#core.size; }
  get pageSize(): number { return this.#core.pageSize; }
  get pool(): Pool { return this.#pool; }
  get label(): string { return this.#core.label; }

  /** @internal For tests and the trace: the internal state. */
  get core(): SpaceCore { return this.#core; }

  /** Earlier dispatches a host operation on pages [first, last] must wait for: see the header. */
  #conflicts(first: number, last: number, writes: boolean): Promise<void>[] {
    const out: Promise<void>[] = [];
    for (const d of this.#inFlight) {
      if (hits(d.write, first, last) || (writes && hits(d.read, first, last))) out.push(d.settled);
    }
    return out;
  }

  /** Must a host operation on pages [first, last] wait (join the chain), or may it complete now? */
  #mustQueue(first: number, last: number, writes: boolean): Promise<void>[] | undefined {
    const conflicts = this.#conflicts(first, last, writes);
    return this.#pending > 0 || this.#core.invalidating || conflicts.length > 0 ? conflicts : undefined;
  }

  /** An asynchronous operation: tracked for an async dispose, and for a device loss (pool.op). */
  #op<T>(run: () => Promise<T>): Promise<T> {
    // Issued after an async dispose began: in issue order it comes after the destroy.
    if (this.#disposing) return Promise.reject(new DestroyedError('this address space (disposed)'));
    const p = this.#pool.op(this.#core, run);
    this.#ops.add(p);
    const done = (): void => void this.#ops.delete(p);
    p.then(done, done);
    return p;
  }

  /** Synchronous operations that change the space: refused once an async dispose began (see #op). */
  #usable(): SpaceCore {
    if (this.#disposing) throw new DestroyedError('this address space (disposed)');
    return this.#core;
  }

  /**
   * An operation with an options object that may carry a `signal`: `run` gets
   * its Cancellation, and the caller's promise rejects at once on an abort
   * while the operation still waits (src/lifetime.ts). `known`: the option
   * names, when `run` does not check them itself.
   */
  #cancellable<T>(what: string, options: unknown, known: readonly string[] | undefined, run: (cancel: Cancellation | undefined) => Promise<T>): Promise<T> {
    let p: Promise<T>;
    let cancel: Cancellation | undefined;
    try {
      if (known) {
        if (options !== undefined && (typeof options !== 'object' || options === null)) {
          throw new InvalidArgumentError(`${what}: options must be an object ({ ${known.join(', ')} }), got ${options === null ? 'null' : typeof options}`);
        }
        for (const k of Object.keys(options ?? {})) {
          if (!known.includes(k)) throw new InvalidArgumentError(`${what}: unknown option "${k}"; known options: ${known.join(', ')}`);
        }
      }
      const signal = typeof options === 'object' && options !== null ? (options as { signal?: unknown }).signal : undefined;
      cancel = cancellation(signal, what);
      p = run(cancel);
    } catch (e) {
      return Promise.reject(e);
    }
    return cancel ? cancel.guard(p) : p;
  }

  /** Join the space's chain; an aborted operation's slot does nothing when its turn comes. */
  #chain<T>(fn: () => Promise<T>, cancel?: Cancellation): Promise<T> {
    this.#pending++;
    const run = this.#tail.then(() => {
      cancel?.check();
      return fn();
    });
    this.#tail = run.catch(() => undefined);
    return run.finally(() => {
      this.#pending--;
    });
  }

  /** Tell the event stream about a host operation that began at `start` (bus.now()) and has just ended. */
  #hostEvent(op: HostOp, addr: number, byteLength: number, start: number, label?: string): void {
    const bus = this.#pool.events;
    if (!bus.active) return;
    const c = this.#core;
    const e = { type: 'host', time: performance.now(), start, space: c.label, spaceId: c.id, op, addr, byteLength } as const;
    bus.emit(label === undefined ? e : { ...e, label });
  }

  alloc(byteLength: number, options: { align?: number; label?: string } = {}): number {
    const c = this.#usable();
    c.check();
    const label = options.label ?? '';
    if (typeof label !== 'string') throw new InvalidArgumentError(`alloc: label must be a string, got ${typeof label}`);
    const start = this.#pool.events.now();
    const addr = c.allocator.alloc(byteLength, options.align ?? DEFAULT_ALIGNMENT, label);
    this.#hostEvent('alloc', addr, byteLength, start, label);
    return addr;
  }

  free(addr: number): void {
    const c = this.#usable();
    c.check();
    const start = this.#pool.events.now();
    const { byteLength } = c.allocator.free(addr);
    const queued = this.#mustQueue(c.pageOf(addr), c.pageOf(addr + byteLength - 1), true);
    if (queued === undefined) {
      this.#free(addr, byteLength);
      this.#hostEvent('free', addr, byteLength, start);
      return;
    }
    // The block is free now (alloc may hand it out again); its pages are zeroed in issue order,
    // before any host operation or dispatch issued after this call touches them.
    this.#chain(async () => {
      if (queued.length > 0) await Promise.all(queued);
      if (c.destroyed || this.#pool.destroyed) return;
      this.#free(addr, byteLength);
      this.#hostEvent('free', addr, byteLength, start);
    }).catch((e: unknown) => {
      // Only a subscriber's throw can land here (the zeroing itself completed): nobody awaits a free.
      console.error(`webgpu-hmm: a subscriber threw while free(${addr}) of space "${c.label}" zeroed its pages:`, e);
    });
  }

  #free(addr: number, byteLength: number): void {
    const c = this.#core;
    // Whole pages of the block read as zero again; pages shared with other allocations keep their bytes.
    const first = Math.ceil(addr / c.pageSize);
    const end = Math.floor((addr + byteLength) / c.pageSize);
    if (end <= first) return;
    const t = c.table;
    for (let p = first; p < end; p++) {
      t.dropPins(p);
      t.setAdvice(p, 0, ADVICE_MASK);
    }
    c.policies.forget(first, end);
    c.hostWrite(first * c.pageSize, end * c.pageSize, () => c.host.zero(first * c.pageSize, end * c.pageSize));
    for (let p = first; p < end; p++) t.depopulate(p);
  }

  /** Pages in [first, last] whose only valid copy is on the device. */
  #deviceOnly(first: number, last: number): boolean {
    const t = this.#core.table;
    let found = false;
    t.forEachTouched(first, last + 1, (a, b) => {
      for (let p = a; p < b && !found; p++) if (t.stateOf(p) === PageState.Device) found = true;
    });
    return found;
  }

  /**
   * Edge pages that a write of [addr, end) covers only in part and whose only
   * copy is on the device: they must come home before the write lands. Pages
   * the write covers whole need no migration: their device copy is dropped.
   */
  #partialDeviceOnly(addr: number, end: number): number[] {
    const c = this.#core;
    const ps = c.pageSize;
    const st = c.table.state;
    const out: number[] = [];
    const first = c.pageOf(addr);
    const last = c.pageOf(end - 1);
    if ((addr % ps !== 0 || (first === last && end % ps !== 0)) && st[first] === PageState.Device) out.push(first);
    if (last !== first && end % ps !== 0 && st[last] === PageState.Device) out.push(last);
    return out;
  }

  async #bringBack(first: number, last: number, cancel?: Cancellation): Promise<void> {
    await this.#pool.withLock(async () => {
      this.#core.check();
      cancel?.check(); // aborted while it waited for the lock: nothing moved for it
      await writeBack(this.#core, first, last);
    });
  }

  write(addr: number, data: ArrayBufferView | ArrayBuffer | SharedArrayBuffer): Promise<void> {
    return this.#op(() => this.#write(addr, data));
  }

  #write(addr: number, data: ArrayBufferView | ArrayBuffer | SharedArrayBuffer): Promise<void> {
    try {
      const c = this.#core;
      c.check();
      let bytes = toBytes(data);
      c.checkRange('write', addr, bytes.byteLength, true);
      const end = addr + bytes.byteLength;
      if (bytes.byteLength === 0) return Promise.resolve();
      const start = this.#pool.events.now();
      const queued = this.#mustQueue(c.pageOf(addr), c.pageOf(end - 1), true);
      if (queued === undefined && this.#partialDeviceOnly(addr, end).length === 0) {
        c.hostWrite(addr, end, () => c.host.write(addr, bytes));
        this.#hostEvent('write', addr, end - addr, start);
        return Promise.resolve();
      }
      bytes = bytes.slice(); // the caller may reuse its buffer before we land
      return this.#chain(async () => {
        if (queued && queued.length > 0) await Promise.all(queued);
        c.check();
        // Loop: a dispatch may dirty an edge page again while we wait for the lock.
        for (let edges = this.#partialDeviceOnly(addr, end); edges.length > 0; edges = this.#partialDeviceOnly(addr, end)) {
          for (const p of edges) await this.#bringBack(p, p);
        }
        c.hostWrite(addr, end, () => c.host.write(addr, bytes));
        this.#hostEvent('write', addr, end - addr, start);
      });
    } catch (e) {
      return Promise.reject(e);
    }
  }

  read(addr: number, byteLength: number, options?: ReadOptions): Promise<Uint8Array> {
    return this.#cancellable('read', options, ['signal'], (cancel) => this.#readOrLost(addr, byteLength, cancel));
  }

  #readOrLost(addr: number, byteLength: number, cancel: Cancellation | undefined): Promise<Uint8Array> {
    const loss = this.#pool.loss;
    if (loss.lost && !this.#core.destroyed) {
      // Not an op of the pool (pool.op): it waits for the loss to settle, which waits for the ops.
      // After a device loss, bytes whose valid copy is on the host stay readable — once the
      // loss is settled, when the dispatches it failed have put their pages back.
      return loss.settled!.then(() => {
        if (!loss.lost) return this.read(addr, byteLength); // recovered meanwhile
        const c = this.#core;
        c.checkRange('read', addr, byteLength, true);
        if (byteLength === 0) return new Uint8Array(0);
        if (this.#deviceOnly(c.pageOf(addr), c.pageOf(addr + byteLength - 1))) throw lossError(this.#pool, c);
        return c.host.slice(addr, byteLength);
      });
    }
    return this.#op(() => this.#read(addr, byteLength, cancel));
  }

  #read(addr: number, byteLength: number, cancel: Cancellation | undefined): Promise<Uint8Array> {
    try {
      const c = this.#core;
      c.checkRange('read', addr, byteLength, true);
      if (byteLength === 0) return Promise.resolve(new Uint8Array(0));
      const first = c.pageOf(addr);
      const last = c.pageOf(addr + byteLength - 1);
      c.check();
      cancel?.check(); // aborted before the call: nothing is issued
      const start = this.#pool.events.now();
      const queued = this.#mustQueue(first, last, false);
      if (queued === undefined && !this.#deviceOnly(first, last)) {
        const out = c.host.slice(addr, byteLength);
        this.#hostEvent('read', addr, byteLength, start);
        return Promise.resolve(out);
      }
      return this.#chain(async () => {
        if (queued && queued.length > 0) await Promise.all(queued);
        cancel?.check();
        while (this.#deviceOnly(first, last)) {
          await this.#bringBack(first, last, cancel);
          cancel?.check(); // what came home stays (valid on both sides)
        }
        cancel?.begin(); // done: from here it completes
        const out = c.host.slice(addr, byteLength);
        this.#hostEvent('read', addr, byteLength, start);
        return out;
      }, cancel);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  withView<R>(addr: number, byteLength: number, mode: ViewMode, fn: (view: Uint8Array) => R, options?: ReadOptions): Promise<R> {
    return this.#cancellable('withView', options, ['signal'], (cancel) => this.#op(() => this.#withView(addr, byteLength, mode, fn, cancel)));
  }

  #withView<R>(addr: number, byteLength: number, mode: ViewMode, fn: (view: Uint8Array) => R, cancel: Cancellation | undefined): Promise<R> {
    try {
      const c = this.#core;
      c.check();
      if (mode !== 'read' && mode !== 'write') throw new InvalidArgumentError(`withView: mode must be 'read' or 'write', got ${String(mode)}`);
      if (typeof fn !== 'function') throw new InvalidArgumentError('withView: pass a function that uses the view');
      // The view is valid only while fn runs: an async fn would use it after (and its writes would
      // bypass the invalidation). Refused before anything changes when we can tell (an async function).
      if (fn.constructor?.name === 'AsyncFunction') throw new InvalidArgumentError(ASYNC_VIEW);
      c.checkRange('withView', addr, byteLength);
      const first = c.pageOf(addr);
      const last = c.pageOf(addr + byteLength - 1);
      const start = this.#pool.events.now();
      const run = (): R => {
        let result!: R;
        // Spanning segments: join them (a read view only where they are all held — it would
        // otherwise make memory for untouched zeros), so this view and the next are not copies.
        // (join returns at once for a range inside one segment.)
        c.host.join(addr, byteLength, mode === 'write');
        if (mode === 'read') {
          // Untouched memory has no segment yet: a copy of its zeros (a view of shared zeros could be written through).
          // A backed space's segment may be dropped and its buffer reused if fn reads elsewhere: a copy too.
          result = fn(c.host.isHeld(addr) && !c.host.backed ? c.host.range(addr, byteLength) : c.host.slice(addr, byteLength));
        } else {
          c.hostWrite(addr, addr + byteLength, () => {
            const hv = c.host.view(addr, byteLength); // spanning segments not joined: a copy, put in place by commit()
            try {
              result = fn(hv.view);
            } finally {
              hv.commit();
            }
          });
        }
        this.#hostEvent(mode === 'read' ? 'view-read' : 'view-write', addr, byteLength, start);
        // A plain function that returned a promise: what it wrote before returning has landed
        // (invalidated first, so both copies agree); what it does later is not seen by the runtime.
        if (isThenable(result)) {
          (result as PromiseLike<unknown>).then(undefined, () => undefined);
          throw new InvalidArgumentError(`${ASYNC_VIEW} It returned a promise; the bytes it wrote before returning have landed.`);
        }
        return result;
      };
      cancel?.check(); // aborted before the call: nothing is issued
      const queued = this.#mustQueue(first, last, mode === 'write');
      if (queued === undefined && !this.#deviceOnly(first, last)) return Promise.resolve(run());
      return this.#chain(async () => {
        if (queued && queued.length > 0) await Promise.all(queued);
        cancel?.check();
        // A writable view may change any byte, so every device-only page comes home first.
        while (this.#deviceOnly(first, last)) {
          await this.#bringBack(first, last, cancel);
          cancel?.check();
        }
        // Synchronous from the last check to fn's return: an abort from here on is too late (fn ran).
        cancel?.begin();
        return run();
      }, cancel);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  pin(addr: number, byteLength: number): Promise<void> {
    return this.#op(() => this.#pin(addr, byteLength));
  }

  async #pin(addr: number, byteLength: number): Promise<void> {
    const c = this.#core;
    c.check();
    c.checkRange('pin', addr, byteLength);
    const start = this.#pool.events.now();
    await this.#tail;
    const pool = this.#pool;
    const first = c.pageOf(addr);
    const last = c.pageOf(addr + byteLength - 1);
    await pool.withLock(async () => {
      c.check();
      await pinPages(c, first, last);
      this.#hostEvent('pin', addr, byteLength, start);
    });
  }

  unpin(addr: number, byteLength: number): void {
    // Not c.check(): unpinning is host-side accounting, and must work while the device is lost — recover()
    // refuses a device that cannot hold the pinned pages, and unpinning some is how to go on.
    const c = this.#alive();
    c.checkRange('unpin', addr, byteLength);
    const first = c.pageOf(addr);
    const last = c.pageOf(addr + byteLength - 1);
    const start = this.#pool.events.now();
    unpinPages(c, first, last);
    this.#hostEvent('unpin', addr, byteLength, start);
  }

  prefetch(addr: number, byteLength: number, options: PrefetchOptions): Promise<PrefetchResult> {
    return this.#cancellable('prefetch', options, undefined, (cancel) => this.#op(() => this.#prefetch(addr, byteLength, options, cancel)));
  }

  async #prefetch(addr: number, byteLength: number, options: PrefetchOptions, cancel: Cancellation | undefined): Promise<PrefetchResult> {
    const c = this.#core;
    c.check();
    c.checkRange('prefetch', addr, byteLength);
    const to = (options as PrefetchOptions | undefined)?.to;
    if (to !== 'device' && to !== 'host') throw new InvalidArgumentError(`prefetch: pass { to: 'device' } or { to: 'host' }, got to = ${String(to)}`);
    // A misspelt option would otherwise be ignored in silence (a prefetch is a hint: nothing else would tell).
    for (const k of Object.keys(options)) {
      if (k !== 'to' && k !== 'signal') throw new InvalidArgumentError(`prefetch: unknown prefetch option "${k}"; known options: to, signal`);
    }
    cancel?.check(); // aborted before the call: nothing is issued
    const start = this.#pool.events.now();
    await this.#tail; // host operations issued before it land first
    const first = c.pageOf(addr);
    const last = c.pageOf(addr + byteLength - 1);
    const result = await this.#pool.withLock(async () => {
      c.check();
      cancel?.check();
      cancel?.begin(); // from here it stops only between migrations (prefetch.ts)
      return to === 'device' ? prefetchToDevice(c, first, last, cancel) : prefetchToHost(c, first, last, cancel);
    });
    this.#hostEvent('prefetch', addr, byteLength, start);
    return result;
  }

  advise(addr: number, byteLength: number, advice: Advice): void {
    this.#usable();
    const c = this.#alive(); // bookkeeping only: works while the device is lost
    c.checkRange('advise', addr, byteLength);
    const { set, clear } = adviceBits(advice);
    const start = this.#pool.events.now();
    for (let p = c.pageOf(addr); p <= c.pageOf(addr + byteLength - 1); p++) c.table.setAdvice(p, set, clear);
    if (set & (PageFlag.PreferHost | PageFlag.PreferDevice)) c.policies.noteTiers();
    this.#hostEvent('advise', addr, byteLength, start);
  }

  /**
   * The core, for host-side state that must stay usable while the device is
   * lost (advice, pageState, residency queries; unpin) — but not on a
   * destroyed space, whose page table no longer means anything.
   */
  #alive(): SpaceCore {
    if (this.#core.destroyed) throw new DestroyedError('this address space');
    if (this.#pool.destroyed) throw new DestroyedError('the pool of this address space');
    return this.#core;
  }

  advice(addr: number): AdviceState {
    const c = this.#alive();
    c.checkRange('advice', addr, 1);
    return adviceOf(c.table.flagsOf(c.pageOf(addr)));
  }

  dispatch(kernel: Kernel, options: DispatchOptions): Promise<DispatchResult> {
    // checkDispatch refuses unknown options; the signal is the facade's (issue order, the caller's promise).
    return this.#cancellable('dispatch', options, undefined, (cancel) => this.#op(() => this.#dispatch(kernel, options, cancel)));
  }

  async #dispatch(kernel: Kernel, options: DispatchOptions, cancel: Cancellation | undefined): Promise<DispatchResult> {
    // Issue order (see the header): everything up to the first await is synchronous, so the
    // dispatch takes its place among the host operations and dispatches at the call.
    const bus = this.#pool.events;
    const start = bus.now();
    const demand = options?.demand === true;
    const tail = this.#tail;
    try {
      checkKernel(kernel, 'dispatch');
      const c = this.#core;
      const checked = checkDispatch(c, kernel, options);
      cancel?.check(); // aborted before the call: nothing is issued
      const after = this.#lastSubmit;
      let submitted!: () => void;
      this.#lastSubmit = new Promise<void>((r) => (submitted = r));
      let settle!: () => void;
      const entry: InFlightDispatch | undefined = demand ? undefined
        : { read: checked.readPages, write: checked.writePages, settled: new Promise<void>((r) => (settle = r)) };
      if (entry) this.#inFlight.add(entry);
      const order: DispatchOrder = { after, submitted, cancel };
      const run = () => runDispatch(c, checked, order, this.#durable);
      let result: DispatchResult;
      try {
        if (demand) {
          result = await this.#chain(run, cancel);
        } else {
          await tail;
          cancel?.check();
          result = await run();
        }
      } finally {
        if (entry) {
          this.#inFlight.delete(entry);
          settle();
        }
        submitted();
      }
      if (bus.active) this.#dispatchEvent(kernel, result.mode, start);
      return result;
    } catch (e) {
      if (bus.active) {
        const mode = !demand ? 'declared' : kernel?.idempotent === true ? 'replay' : 'transaction';
        const code = e instanceof HmmError ? e.code : cancel?.aborted === true && e === cancel.signal.reason ? 'ABORTED' : 'ERROR';
        this.#dispatchEvent(kernel, mode, start, code);
      }
      throw e;
    }
  }

  #dispatchEvent(kernel: Kernel, mode: DispatchResult['mode'], start: number, error?: string): void {
    const c = this.#core;
    const e = { type: 'dispatch', time: performance.now(), start, space: c.label, spaceId: c.id, kernel: String(kernel?.label), mode } as const;
    this.#pool.events.emit(error === undefined ? e : { ...e, error });
  }

  interop(options: { read?: readonly Range[]; write?: readonly Range[] }): Promise<SpaceInterop> {
    return this.#op(async () => {
      const c = this.#core;
      c.check();
      if (!options || typeof options !== 'object') throw new InvalidArgumentError('interop: pass { read?, write? }');
      for (const k of Object.keys(options)) if (k !== 'read' && k !== 'write') throw new InvalidArgumentError(`interop: unknown option "${k}"; known options: read, write`);
      rangePages(c, options.read, 'read');
      rangePages(c, options.write, 'write');
      await this.#tail;
      return this.#pool.withLock(async () => {
        c.check();
        return beginInterop(c, options.read, options.write);
      });
    });
  }

  compile(kernel: Kernel, options: { demand?: boolean } = {}): Promise<void> {
    return this.#op(() => this.#compile(kernel, options));
  }

  async #compile(kernel: Kernel, options: { demand?: boolean }): Promise<void> {
    this.#core.check();
    checkKernel(kernel, 'compile');
    if (kernel.plain) await plainPipelineFor(this.#core.pool.device, kernel);
    else if (options.demand === true && kernel.idempotent) {
      await Promise.all(replayForms(kernel).map((f) => compileFor(this.#core, kernel, true, 0, f)));
    } else await compileFor(this.#core, kernel, options.demand === true);
  }

  subscribe(addr: number, byteLength: number, onInvalidate?: InvalidateCallback): IntervalSubscription {
    const c = this.#usable();
    c.check();
    c.checkRange('subscribe', addr, byteLength);
    if (onInvalidate !== undefined && typeof onInvalidate !== 'function') {
      throw new InvalidArgumentError('subscribe: onInvalidate must be a function (event) => void, or left out to poll the sequence number');
    }
    return c.notifier.subscribe(addr, addr + byteLength, onInvalidate);
  }

  pageState(addr: number): PageStateName {
    const c = this.#alive();
    c.checkRange('pageState', addr, 1);
    return PAGE_STATE_NAMES[c.table.stateOf(c.pageOf(addr))]!;
  }

  residency(addr = 0, byteLength = this.size): Residency {
    const c = this.#alive();
    c.checkRange('residency', addr, byteLength);
    const t = c.table;
    const counts = [0, 0, 0, 0];
    let pinned = 0;
    let framed = 0;
    const first = c.pageOf(addr);
    const end = c.pageOf(addr + byteLength - 1) + 1;
    let touched = 0;
    t.forEachTouched(first, end, (a, b) => {
      touched += b - a;
      for (let p = a; p < b; p++) {
        counts[t.stateOf(p)]!++;
        if (t.pinsOf(p) > 0) pinned++;
        if (t.isResident(p)) framed++;
      }
    });
    counts[t.initial]! += end - first - touched; // untouched pages: all in the initial state
    const ps = c.pageSize;
    return {
      unpopulated: counts[0]!, host: counts[1]!, device: counts[2]!, shared: counts[3]!, pinned,
      residentBytes: framed * ps, deviceDirtyBytes: counts[2]! * ps,
    };
  }

  /**
   * @internal A backed space's flush (src/node/file-space.ts): in issue order,
   * after the dispatches issued before it that write the space, every
   * device-only page comes home, then every dirty host page goes to the
   * backing store, then `sync` (fsync) runs. Resolves to the bytes stored.
   */
  flushBacking(sync: () => void): Promise<number> {
    return this.#op(() => {
      try {
        const c = this.#core;
        c.check();
        const last = c.pageCount - 1;
        const queued = this.#conflicts(0, last, false);
        return this.#chain(async () => {
          if (queued.length > 0) await Promise.all(queued);
          c.check();
          while (this.#deviceOnly(0, last)) await this.#bringBack(0, last);
          const stored = c.host.flushDirty();
          sync();
          return stored;
        });
      } catch (e) {
        return Promise.reject(e);
      }
    });
  }

  checkInvariants(): void {
    this.#core.table.checkInvariants();
    this.#pool.checkInvariants();
  }

  destroy(): void {
    this.#core.destroy();
    this.listening(false); // a destroyed space has no more records: leave the bus even if listeners stay
  }

  [DISPOSE](): void {
    this.destroy();
  }

  async [ASYNC_DISPOSE](): Promise<void> {
    if (this.#core.destroyed) return;
    this.#disposing = true;
    // Operations in flight may issue more internally (a subscriber's host op joins the chain): until none is left.
    while (this.#ops.size > 0 || this.#pending > 0) await Promise.allSettled([...this.#ops, this.#tail]);
    this.destroy();
  }

  /** The EventTarget's first listener came or its last went: hear this space's records on the pool's bus, or stop. */
  protected override listening(on: boolean): void {
    if (on && !this.#core.destroyed) {
      const id = this.#core.id;
      this.#unforward ??= this.#pool.events.on((e) => {
        if (e.spaceId === id && e.type !== 'pressure') this.deliver(e);
      });
    } else {
      this.#unforward?.();
      this.#unforward = undefined;
    }
  }
}

const SPACE_OPTIONS: readonly string[] = ['size', 'label', 'strict', 'durable', 'group', 'densityPrefetch', 'thrashing'] satisfies (keyof SpaceOptions)[];

/**
 * Create an address space of `size` bytes on `pool`. Its host memory is allocated now (zeroed).
 * Throws PoolMismatchError for a pool not from createPool() (or a group of another pool),
 * InvalidArgumentError for a size that is not a positive multiple of the page size, over
 * MAX_SPACE_SIZE, or too many pages for one storage binding of page bitmaps.
 *
 * @example
 * ```ts
 * const pool = await createPool(device, { capacity: 64 << 20 }); // 64 MiB of device memory
 * const space = createSpace(pool, { size: 256 << 20, label: 'data' }); // 256 MiB of virtual memory
 * const a = space.alloc(1 << 20);
 * ```
 */
export function createSpace(pool: Pool, options: SpaceOptions): AddressSpace {
  return createBackedSpace(pool, options, {});
}

/** @internal createSpace with a backing store (src/node/file-space.ts). */
export function createBackedSpace(pool: Pool, options: SpaceOptions, backing: SpaceBacking): AddressSpaceImpl {
  const impl = spacePool(pool);
  if (!impl) throw new PoolMismatchError('createSpace: pass a Pool from createPool()');
  if (!options || typeof options !== 'object') throw new InvalidArgumentError('createSpace: pass { size, label?, strict?, group? }');
  for (const k of Object.keys(options)) {
    if (!SPACE_OPTIONS.includes(k)) throw new InvalidArgumentError(`unknown space option "${k}"; known options: ${SPACE_OPTIONS.join(', ')}`);
  }
  const size = checkByteCount('space size', options.size);
  if (size > MAX_SPACE_SIZE) {
    throw new InvalidArgumentError(`space size ${size} is over 1 TiB (MAX_SPACE_SIZE = ${MAX_SPACE_SIZE}), the largest address space; use several spaces of at most ${MAX_SPACE_SIZE} bytes`);
  }
  if (size % pool.pageSize !== 0) {
    throw new InvalidArgumentError(`space size ${size} is not a multiple of the pool's page size ${pool.pageSize}; round it up to ${Math.ceil(size / pool.pageSize) * pool.pageSize}`);
  }
  // A pass's record holds a bit per page in each of its page bitmaps, bound as one storage buffer.
  const bindingMax = Math.min(impl.device.limits.maxStorageBufferBindingSize, impl.device.limits.maxBufferSize);
  if (recordBytes(size / pool.pageSize, 0) > bindingMax) {
    let fits = pool.pageSize;
    while (fits < MAX_PAGE_SIZE && recordBytes(size / fits, 0) > bindingMax) fits *= 2;
    throw new InvalidArgumentError(
      `space size ${size} in ${pool.pageSize}-byte pages needs ${recordBytes(size / pool.pageSize, 0)} bytes of page bitmaps (a bit per page for each dispatch), ` +
        `more than one storage binding holds on this device (${bindingMax}); use a pool with pages of at least ${fits} bytes, or a smaller space`,
    );
  }
  if (options.label !== undefined && typeof options.label !== 'string') {
    throw new InvalidArgumentError(`createSpace: label must be a string, got ${typeof options.label}`);
  }
  for (const k of ['strict', 'durable'] as const) {
    if (options[k] !== undefined && typeof options[k] !== 'boolean') {
      throw new InvalidArgumentError(`createSpace: ${k} must be true or false, got ${String(options[k])}`);
    }
  }
  const policies: SpacePolicies = {
    densityPrefetch: resolveDensityPrefetch(options.densityPrefetch, pool.pageSize),
    thrashing: resolveThrashing(options.thrashing),
  };
  const group = impl.groups.resolve(options.group);
  return new AddressSpaceImpl(impl, size, options.label ?? 'space', options.strict === true, options.durable ?? DEFAULT_DURABLE, policies, group, backing);
}
