// The device pool: device memory as page-sized frames inside a few large
// GPUBuffers ("windows", each at most one storage binding), with a capacity
// budget smaller than the spaces it serves (oversubscription). Several
// address spaces may share one pool; each space reaches only its own frames
// through its own page table. The pool owns the frame table, the windows, the
// transfer rings, the event bus, the loss state and the pool lock that
// serializes migrations.
//
// Layering: device/ knows frames, windows and buffers, not what a space or a
// migration is. The pool sees its spaces only as PoolMembers (the few things
// eviction accounting, memory groups and loss reports need of them), and what
// it must ask of the layers above — give a window back when the device is out
// of memory (an eviction), move to a new device after a loss — it asks through
// the PoolHooks it was created with (src/api/pool.ts wires them to migrate/).

import { assert, fail } from '../assert.ts';
import { DestroyedError, InvalidArgumentError } from '../errors.ts';
import { Transfer } from './transfer.ts';
import type { LostRange } from '../errors.ts';
import type { PoolOptions, ResolvedPoolOptions } from '../options.ts';
import { FrameTable } from './frames.ts';
import { GroupTable, type GroupBudget, type GroupUsage } from './groups.ts';
import { failure, lossError, LossState, noteLost, type RecoveryReport } from './loss.ts';
import { allocate } from './buffer-alloc.ts';
import { EventBus, type HmmEventListener, type PressureEvent } from '../events.ts';
import { HmmEventTarget, type PoolEventMap, type TypedEventTarget } from '../event-target.ts';
import { ASYNC_DISPOSE, DISPOSE } from '../lifetime.ts';

/**
 * What the pool knows of an address space that holds its frames (src/space/state.ts
 * implements it): enough for frame accounting, memory groups, pins and loss reports.
 */
export interface PoolMember {
  /** The frame table's owner id (1-based). */
  readonly id: number;
  readonly label: string;
  readonly destroyed: boolean;
  readonly pageCount: number;
  /** Pages with pins > 0. */
  readonly pinnedPages: number;
  isPinned(page: number): boolean;
  /** The page's frame, or NO_FRAME (0xffffffff). */
  frameOf(page: number): number;
  /** Ranges whose only valid copy is on the device (a loss would lose them). */
  deviceOnlyRanges(): LostRange[];
  /** The pool was destroyed: the member must not give frames back to it. */
  detachFromPool(): void;
}

/** What the pool asks of the layers above it (given by createPool: src/api/pool.ts). */
export interface PoolHooks<M extends PoolMember> {
  /**
   * The device is out of memory: give the pool's last window back (its pages
   * written home and dropped), leaving `protect`'s frames alone. Undefined when
   * done, else why not (the end of a GpuOutOfMemoryError message).
   */
  shrink(pool: PoolImpl<M>, protect: readonly number[]): Promise<string | undefined>;
  /** pool.recover(device). */
  recover(pool: PoolImpl<M>, device: GPUDevice): Promise<RecoveryReport>;
  /** Check the members' own state (page tables) after the pool's: pool.checkInvariants(). */
  checkMember(member: M): void;
}

/** Counters and sizes of a pool since it was created (bytes unless named pages or counts); from `pool.stats()`. */
export interface PoolStats {
  /** Bytes of device memory the pool uses now: less than requestedCapacity when the device ran out of memory. */
  readonly capacity: number;
  /** The capacity the pool was created with (resolved from its options). */
  readonly requestedCapacity: number;
  /** Windows the pool gave back while it ran, because the device was out of memory (src/device/buffer-alloc.ts). */
  readonly shrinks: number;
  /** Page size in bytes (every space of the pool uses it). */
  readonly pageSize: number;
  /** Device frames (one page each): `capacity / pageSize`. */
  readonly frameCount: number;
  /** Frames holding a page now. */
  readonly framesUsed: number;
  /** Frames free now. */
  readonly framesFree: number;
  /** Bytes pinned now, over all spaces. */
  readonly pinnedBytes: number;
  /** Most bytes that may be pinned at once (the `pinLimit` option; default half the capacity). */
  readonly pinLimit: number;
  /** GPU buffers ("windows") the capacity is split into; each is one storage binding of a kernel. */
  readonly windowCount: number;
  /** Bytes per window (a power of two, at most the device's storage binding limit). */
  readonly windowSize: number;
  /** Bytes copied host → device (uploads; clears of unpopulated pages are not counted). */
  readonly bytesToDevice: number;
  /** Bytes copied device → host (read-backs and eviction write-backs). */
  readonly bytesToHost: number;
  /** Pages copied host → device. */
  readonly pagesToDevice: number;
  /** Pages copied device → host. */
  readonly pagesToHost: number;
  /** Unpopulated pages given a zeroed frame instead of a copy. */
  readonly pagesCleared: number;
  /** Frames taken from a page to give to another. */
  readonly evictions: number;
  /** Evictions that wrote device-dirty data back first. */
  readonly evictionWritebacks: number;
  /** Evictions of clean pages: dropped with no copy. */
  readonly evictionDrops: number;
  /** Device copies dropped because the host wrote the page. */
  readonly invalidations: number;
  /** Dispatches the pool's spaces ran (those refused before running are not counted). */
  readonly dispatches: number;
  /** Demand-paged dispatches: fault batches serviced. */
  readonly faultBatches: number;
  /** Pages made resident because an invocation missed on them. */
  readonly pagesFaulted: number;
  /** Passes run by demand-paged dispatches (probes, commits, replays). */
  readonly demandPasses: number;
  /** Commit passes rolled back (a miss or a store outside the snapshot). */
  readonly aborts: number;
  /** Bytes uploaded with `queue.writeBuffer` (with `uploadPath` 'auto': transfers below `stagingThreshold`). */
  readonly uploadWriteBufferBytes: number;
  /** Bytes uploaded through mapped staging buffers and copies (with `uploadPath` 'auto': transfers of at least `stagingThreshold`). */
  readonly uploadStagingBytes: number;
  /** Staging and readback buffers alive now. */
  readonly stagingBuffers: number;
  /** Times the runtime waited for the GPU: a pass's record read back, or a transfer's map that had not completed. */
  readonly roundTrips: number;
  /** Access counters: declared-write pages the kernel did not write, kept clean (no write-back needed). */
  readonly pagesKeptClean: number;
}

/** Device memory in use and free, for the pool and per memory group (bytes). */
export interface PoolBudget {
  /** Device bytes the pool holds now. */
  readonly capacity: number;
  /** Bytes with a page in them (frames owned by spaces). */
  readonly used: number;
  /** Bytes of free frames. */
  readonly free: number;
  /** Bytes pinned now. */
  readonly pinned: number;
  /** Most bytes that may be pinned at once. */
  readonly pinLimit: number;
  /**
   * The root group (spaces created without a group) first, then each group in creation order (a parent
   * before its children). A group's `used` is its subtree's; the root's entry counts its own spaces only.
   */
  readonly perGroup: readonly GroupUsage[];
  /**
   * The groups as a tree, the root (the whole pool) at the top: each group's subtree usage, its own
   * spaces' part, pinned bytes, effective min and low against the pool's pressure, and its spaces' pages
   * evicted by cause (its own pressure, an ancestor's max, other groups).
   */
  readonly tree: GroupBudget;
}

/**
 * A pool is also an EventTarget (src/event-target.ts): `addEventListener('migration', (e) => e.detail…)`
 * hears the same records as `on`, one CustomEvent per record, `detail` the record.
 */
export interface Pool extends TypedEventTarget<PoolEventMap> {
  /** The GPUDevice the pool's buffers live on (the new one after `recover()`). */
  readonly device: GPUDevice;
  /** Device bytes the pool holds now: less than asked when the device ran out of memory (at creation or later). */
  readonly capacity: number;
  /** Page size in bytes, shared by every space of the pool (default 65536). */
  readonly pageSize: number;
  /** Device frames (one page each): `capacity / pageSize`. */
  readonly frameCount: number;
  /** Most bytes that may be pinned at once, over all spaces (default half the capacity). */
  readonly pinLimit: number;
  /** GPU buffers ("windows") the capacity is split into; each is one storage binding of a kernel. */
  readonly windowCount: number;
  /** Bytes per window: a power of two, at most the device's `maxStorageBufferBindingSize` (and `maxWindowSize`). */
  readonly windowSize: number;
  /** Counters since the pool was created: bytes and pages moved, evictions, dispatches, faults (a fresh object each call). */
  stats(): PoolStats;
  /**
   * Hear every migration (with its cause), eviction, invalidation, pin, fault
   * batch, pass and violation of this pool's spaces. Returns the unsubscribe
   * function. With no listener the runtime builds no events at all.
   */
  on(listener: HmmEventListener): () => void;
  /**
   * Hear memory pressure only: high water (of the pool and of each group with a
   * max), eviction storms, thrashing (src/trace/pressure.ts; thresholds in
   * the pool's `pressure` option). Returns the unsubscribe function.
   */
  onPressure(listener: (event: PressureEvent) => void): () => void;
  /** Device bytes used and free now, pinned, and the same per memory group, also as the groups' tree. */
  budget(): PoolBudget;
  /**
   * Go on with a new device after this pool's device was lost (operations
   * fail with DeviceLostError until then). Waits until the loss is settled —
   * every operation in flight has failed — then makes the pool's windows and
   * every space's GPU buffers on `device` and drops all device residency:
   * pages whose only copy was on the lost device (the report's and the
   * errors' lostRanges) keep their last host bytes, which are stale; every
   * other page keeps its valid host bytes. Pinned pages are uploaded again
   * before this resolves. Spaces, allocations, subscriptions, event listeners
   * and counters carry over; kernels compile again on first use. Rejects,
   * leaving the pool lost, when `device` cannot hold the pinned pages (unpin
   * works while lost) or the memory groups' min added up.
   */
  recover(device: GPUDevice): Promise<RecoveryReport>;
  /** Destroy the pool's GPU buffers. Its spaces keep their host-valid data; device-only data is lost. */
  destroy(): void;
  /** `using pool = …`: destroy() now, when the scope ends. */
  [Symbol.dispose](): void;
  /**
   * `await using pool = …`: when the scope ends, take no new operation
   * (DestroyedError), wait for those issued before — of every space of the
   * pool — and for the eviction write-backs in flight, then destroy().
   */
  [Symbol.asyncDispose](): Promise<void>;
}

/** Mutable counters behind PoolStats. */
export interface PoolCounters {
  bytesToDevice: number;
  bytesToHost: number;
  pagesToDevice: number;
  pagesToHost: number;
  pagesCleared: number;
  evictions: number;
  evictionWritebacks: number;
  evictionDrops: number;
  invalidations: number;
  dispatches: number;
  /** Demand mode: fault batches serviced, pages faulted in, passes run, commits rolled back. */
  faultBatches: number;
  pagesFaulted: number;
  demandPasses: number;
  aborts: number;
  /** Record read-backs awaited (one per pass); transfers count their own waits. */
  roundTrips: number;
  /** Written by fault/access-bits.ts. */
  pagesKeptClean: number;
  /** Windows given back because the device was out of memory (device/buffer-alloc.ts). */
  shrinks: number;
}

/** The pools of each device not destroyed yet (PoolImpl.#watchLoss). */
const livePools = new WeakMap<GPUDevice, Set<{ readonly destroyed: boolean; readonly device: GPUDevice; noteLost(info: GPUDeviceLostInfo): void }>>();

export class PoolImpl<M extends PoolMember = PoolMember> extends HmmEventTarget<PoolEventMap> implements Pool {
  /** The device, its windows, frames and transfer rings: replaced together by recover() (device/loss.ts). */
  device: GPUDevice;
  options: ResolvedPoolOptions;
  frames: FrameTable;
  windows: GPUBuffer[];
  transfer: Transfer;
  /** The options createPool() was given, resolved again against a new device by recover(). */
  readonly requested: PoolOptions;
  /** The capacity they asked for, before any out-of-memory cut. */
  readonly requestedCapacity: number;
  /** Device loss: state of src/device/loss.ts. */
  readonly loss = new LossState();
  readonly events = new EventBus();
  readonly counters: PoolCounters = {
    bytesToDevice: 0, bytesToHost: 0, pagesToDevice: 0, pagesToHost: 0, pagesCleared: 0,
    evictions: 0, evictionWritebacks: 0, evictionDrops: 0, invalidations: 0, dispatches: 0,
    faultBatches: 0, pagesFaulted: 0, demandPasses: 0, aborts: 0, roundTrips: 0, pagesKeptClean: 0, shrinks: 0,
  };
  /** Memory groups: the tree, membership, limits, the group-aware victim choice (groups.ts). */
  readonly groups: GroupTable;
  /** Spaces by id (1-based, the frame table's owner ids). */
  readonly spaces = new Map<number, M>();
  readonly #hooks: PoolHooks<M>;
  /** Pages with pins > 0, all spaces together: derived from the spaces' page tables (I6), never stored. */
  get pinnedPages(): number {
    let n = 0;
    for (const s of this.spaces.values()) n += s.pinnedPages;
    return n;
  }
  /**
   * Eviction write-backs in flight (migrate.ts): copies submitted, maps not yet
   * landed. Their pages are InFlight; whoever needs one of them waits here.
   */
  readonly writeBacks = new Set<Promise<void>>();
  /** Bumped when `windows` changes (a window given back, a new device): bind groups over them are made again. */
  windowsVersion = 0;
  #nextSpaceId = 1;
  #lockTail: Promise<void> = Promise.resolve();
  #destroyed = false;
  /** [Symbol.asyncDispose]() was called: no new operation is taken. */
  #disposing = false;
  /** Leaves the event bus: set while the pool's EventTarget has listeners. */
  #unforward: (() => void) | undefined;

  constructor(
    device: GPUDevice, options: ResolvedPoolOptions, windows: GPUBuffer[], hooks: PoolHooks<M>, requested: PoolOptions = {}, requestedCapacity = options.capacity,
  ) {
    super();
    this.#hooks = hooks;
    this.requested = requested;
    this.requestedCapacity = requestedCapacity;
    this.device = device;
    this.options = options;
    this.windows = windows;
    const frameCount = options.capacity / options.pageSize;
    this.frames = new FrameTable(frameCount, options.windowSize / options.pageSize);
    this.transfer = this.#makeTransfer(device, windows, options);
    this.groups = new GroupTable(this);
    this.#watch(device);
  }

  #makeTransfer(device: GPUDevice, windows: GPUBuffer[], o: ResolvedPoolOptions): Transfer {
    return new Transfer(device, windows, o.writeChunk, o.stagingSlotSize, o.stagingSlots, o.label, (desc, protect) => allocate(this, desc, protect));
  }

  /** device.lost resolved for this pool's device (device/loss.ts). */
  noteLost(info: GPUDeviceLostInfo): void {
    noteLost(this, info);
  }

  /** The device is out of memory: give the last window back through the layers above (PoolHooks.shrink). */
  shrink(protect: readonly number[]): Promise<string | undefined> {
    return this.#hooks.shrink(this, protect);
  }

  /**
   * One device-lost reaction per device, for all its live pools. The device
   * outlives its pools: a reaction per pool would keep every pool ever created
   * on it (found by the soak: ~2.7 KB of heap per pool created and destroyed),
   * or its remains, until the device goes. destroy() and recover() take the
   * pool out of its old device's set.
   */
  #watch(device: GPUDevice): void {
    let pools = livePools.get(device);
    if (!pools) {
      const set = new Set<PoolImpl>();
      livePools.set(device, (pools = set));
      device.lost.then((info) => {
        for (const p of set) if (!p.destroyed && p.device === device) p.noteLost(info);
      }, () => {});
    }
    pools.add(this);
  }

  /** recover(): the pool's device, options, windows, frame table and transfer rings, all new. The caller drops every space's residency. */
  rebind(device: GPUDevice, options: ResolvedPoolOptions, windows: GPUBuffer[]): void {
    livePools.get(this.device)?.delete(this);
    this.transfer.destroy();
    for (const w of this.windows) w.destroy();
    this.device = device;
    this.options = options;
    this.windows = windows;
    this.windowsVersion++;
    this.frames = new FrameTable(options.capacity / options.pageSize, options.windowSize / options.pageSize);
    this.transfer = this.#makeTransfer(device, windows, options);
    this.#watch(device);
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }

  get capacity(): number { return this.options.capacity; }
  get pageSize(): number { return this.options.pageSize; }
  get frameCount(): number { return this.frames.frameCount; }
  get pinLimit(): number { return this.options.pinLimit; }
  get windowCount(): number { return this.options.windowCount; }
  get windowSize(): number { return this.options.windowSize; }

  /** Throws if the pool cannot be used: destroyed, or its device lost (the error lists `space`'s lost ranges, or every space's). */
  check(space?: M): void {
    if (this.#destroyed) throw new DestroyedError('this pool');
    if (this.loss.lost) throw lossError(this, space);
  }

  /**
   * Run a public operation of `space`: tracked, so that a device loss is
   * settled only after it has finished, and failing — if the device was lost
   * — with the settled DeviceLostError (device/loss.ts).
   */
  op<T>(space: M, run: () => Promise<T>): Promise<T> {
    // Issued after an async dispose began: in issue order it comes after the destroy.
    if (this.#disposing) return Promise.reject(new DestroyedError('this pool (disposed)'));
    let p: Promise<T>;
    try {
      p = run();
    } catch (e) {
      p = Promise.reject(e);
    }
    const ops = this.loss.ops;
    ops.add(p);
    p.then(() => ops.delete(p), () => ops.delete(p));
    return p.catch((e: unknown) => failure(this, space, e));
  }

  recover(device: GPUDevice): Promise<RecoveryReport> {
    return this.#hooks.recover(this, device);
  }

  registerSpace(make: (id: number) => M): M {
    this.check();
    assert(this.#nextSpaceId < 0xffff, 'too many spaces on one pool');
    const id = this.#nextSpaceId++;
    const s = make(id);
    this.spaces.set(id, s);
    return s;
  }

  unregisterSpace(id: number): void {
    this.spaces.delete(id);
    this.groups.remove(id);
  }

  /**
   * Run `fn` holding the pool lock: migrations, dispatch preparation and pins
   * are serialized per pool (like UVM's va_block lock, but pool-wide because
   * eviction crosses spaces). Host writes never take it: they synchronize
   * through the notifier instead.
   */
  async withLock<T>(fn: () => Promise<T>, checked = true): Promise<T> {
    const prev = this.#lockTail;
    let release!: () => void;
    this.#lockTail = new Promise<void>((r) => (release = r));
    await prev;
    try {
      if (checked) this.check();
      const result = await fn();
      // Destroyed while `fn` waited on the GPU: what it did on the device went with the pool, so it
      // must not resolve as if done (a prefetch or pin "succeeding" on a destroyed pool).
      if (checked && this.#destroyed) throw new DestroyedError('the pool of this address space');
      return result;
    } finally {
      release();
    }
  }

  /** Track an eviction write-back until it lands (its rejection stays for whoever settles). */
  trackWriteBack(done: Promise<void>): void {
    const p = done.finally(() => this.writeBacks.delete(p));
    p.catch(() => undefined);
    this.writeBacks.add(p);
  }

  /**
   * Wait until the write-backs in flight now (or, given a snapshot, those of
   * it) have landed. Rejects with the first failure (a lost device).
   */
  async settleWriteBacks(snapshot: Iterable<Promise<void>> = this.writeBacks): Promise<void> {
    const list = [...snapshot];
    if (list.length > 0) await Promise.all(list);
  }

  on(listener: HmmEventListener): () => void {
    if (typeof listener !== 'function') throw new InvalidArgumentError('pool.on: pass a function that takes an event');
    return this.events.on(listener);
  }

  /** The EventTarget's first listener came or its last went: join or leave the bus (no records are built for nobody). */
  protected override listening(on: boolean): void {
    if (on) this.#unforward ??= this.events.on((e) => this.deliver(e));
    else {
      this.#unforward?.();
      this.#unforward = undefined;
    }
  }

  onPressure(listener: (event: PressureEvent) => void): () => void {
    if (typeof listener !== 'function') throw new InvalidArgumentError('pool.onPressure: pass a function that takes a pressure event');
    return this.events.on((e) => {
      if (e.type === 'pressure') listener(e);
    });
  }

  budget(): PoolBudget {
    this.check();
    const ps = this.pageSize;
    const used = this.frameCount - this.frames.freeCount;
    return {
      capacity: this.capacity, used: used * ps, free: this.frames.freeCount * ps, pinned: this.pinnedPages * ps, pinLimit: this.pinLimit,
      perGroup: this.groups.list().map((g) => this.groups.usage(g)),
      tree: this.groups.budget(),
    };
  }

  stats(): PoolStats {
    const t = this.transfer.stats;
    return {
      capacity: this.capacity,
      requestedCapacity: this.requestedCapacity,
      pageSize: this.pageSize,
      frameCount: this.frameCount,
      framesUsed: this.frameCount - this.frames.freeCount,
      framesFree: this.frames.freeCount,
      pinnedBytes: this.pinnedPages * this.pageSize,
      pinLimit: this.pinLimit,
      windowCount: this.windowCount,
      windowSize: this.windowSize,
      ...this.counters,
      uploadWriteBufferBytes: t.writeBufferBytes,
      uploadStagingBytes: t.stagingBytes,
      stagingBuffers: this.transfer.bufferCount,
      roundTrips: this.counters.roundTrips + t.roundTrips,
    };
  }

  /**
   * Frame table and every space's page table agree (I4/F3), and the pinned-page
   * counts are the pages with pins (pool.pinnedPages, each space's pinnedPages:
   * the group tree counts the latter and the frames per space), and the groups' min fit the pool. For tests.
   */
  checkInvariants(): void {
    this.frames.checkInvariants();
    for (const [id, s] of this.spaces) {
      this.#hooks.checkMember(s);
      for (let p = 0; p < s.pageCount; p++) {
        const f = s.frameOf(p);
        if (f === 0xffffffff) continue;
        if (!(this.frames.owner[f] === id && this.frames.page[f] === p)) fail(`space ${id} page ${p} → frame ${f}, but the frame belongs to ${this.frames.owner[f]}:${this.frames.page[f]} (I4)`);
      }
    }
    const mins = this.groups.minFrames();
    if (!(mins <= this.frameCount)) fail(`the memory groups' min add up to ${mins} frames, over the pool's ${this.frameCount} (groups.ts)`);
    this.groups.checkInvariants();
    for (let f = 0; f < this.frameCount; f++) {
      const o = this.frames.owner[f]!;
      if (o === 0) continue;
      const s = this.spaces.get(o);
      if (!(s !== undefined)) fail(`frame ${f} owned by unknown space ${o}`);
      if (!(s.frameOf(this.frames.page[f]!) === f)) fail(`frame ${f} → ${o}:${this.frames.page[f]}, which does not map it back (F3)`);
    }
  }

  [DISPOSE](): void {
    this.destroy();
  }

  async [ASYNC_DISPOSE](): Promise<void> {
    if (this.#destroyed) return;
    this.#disposing = true;
    // Operations in flight may issue more internally (a chained host op), never through op(): wait until none is left.
    while (this.loss.ops.size > 0) await Promise.allSettled([...this.loss.ops]);
    await this.settleWriteBacks().catch(() => undefined); // a lost device: nothing more to wait for
    this.destroy();
  }

  destroy(): void {
    if (this.#destroyed) return;
    livePools.get(this.device)?.delete(this);
    for (const s of [...this.spaces.values()]) s.detachFromPool();
    this.#destroyed = true;
    this.transfer.destroy();
    for (const w of this.windows) w.destroy();
  }
}
