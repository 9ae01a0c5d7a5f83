// The device pool: device memory as page-sized frames inside a few large
// GPUBuffers ("windows", each at most one storage binding), with a capacity
// budget smaller than the spaces it serves (oversubscription). Several
// address spaces may share one pool; each space reaches only its own frames
// through its own page table. The pool owns the frame table, the transfer
// rings, the pin accounting and the pool lock that serializes migrations.

import { assert } from '../assert.ts';
import {
  DestroyedError, DeviceLostError, GpuOutOfMemoryError, InvalidArgumentError, type LostRange,
} from '../errors.ts';
import { BufferUsage } from '../gpu/constants.ts';
import { Transfer } from '../migrate/transfer.ts';
import { resolvePoolOptions, RUNTIME_STORAGE_BINDINGS, type PoolOptions, type ResolvedPoolOptions } from '../options.ts';
import type { SpaceCore } from '../space/core.ts';
import { FrameTable } from './frames.ts';
import { EventBus, type HmmEventListener } from '../trace/events.ts';

export interface PoolStats {
  readonly capacity: number;
  readonly pageSize: number;
  readonly frameCount: number;
  readonly framesUsed: number;
  readonly framesFree: number;
  readonly pinnedBytes: number;
  readonly pinLimit: number;
  readonly windowCount: number;
  readonly windowSize: number;
  /** Bytes copied host → device (uploads; clears of unpopulated pages are not counted). */
  readonly bytesToDevice: number;
  /** Bytes copied device → host (read-backs and eviction write-backs). */
  readonly bytesToHost: number;
  readonly pagesToDevice: number;
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
  readonly dispatches: number;
  /** Demand-paged dispatches: fault batches serviced. */
  readonly faultBatches: number;
  /** Pages made resident because an invocation missed on them. */
  readonly pagesFaulted: number;
  /** Passes run by demand-paged dispatches (probes, commits, replays). */
  readonly demandPasses: number;
  /** Commit passes rolled back (a miss or a store outside the snapshot). */
  readonly aborts: number;
  readonly uploadWriteBufferBytes: number;
  readonly uploadStagingBytes: number;
  /** Staging and readback buffers alive now. */
  readonly stagingBuffers: number;
  /** Times the runtime waited for the GPU: a pass's record read back, or a transfer's map that had not completed. */
  readonly roundTrips: number;
}

export interface Pool {
  readonly device: GPUDevice;
  readonly capacity: number;
  readonly pageSize: number;
  readonly frameCount: number;
  readonly pinLimit: number;
  readonly windowCount: number;
  readonly windowSize: number;
  stats(): PoolStats;
  /**
   * Hear every migration (with its cause), eviction, invalidation, pin, fault
   * batch, pass and violation of this pool's spaces. Returns the unsubscribe
   * function. With no listener the runtime builds no events at all.
   */
  on(listener: HmmEventListener): () => void;
  /** Destroy the pool's GPU buffers. Its spaces keep their host-valid data; device-only data is lost. */
  destroy(): void;
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
}

/** The pools of each device not destroyed yet (PoolImpl.#watchLoss). */
const livePools = new WeakMap<GPUDevice, Set<PoolImpl>>();

export class PoolImpl implements Pool {
  readonly device: GPUDevice;
  readonly options: ResolvedPoolOptions;
  readonly frames: FrameTable;
  readonly windows: GPUBuffer[];
  readonly transfer: Transfer;
  readonly events = new EventBus();
  readonly counters: PoolCounters = {
    bytesToDevice: 0, bytesToHost: 0, pagesToDevice: 0, pagesToHost: 0, pagesCleared: 0,
    evictions: 0, evictionWritebacks: 0, evictionDrops: 0, invalidations: 0, dispatches: 0,
    faultBatches: 0, pagesFaulted: 0, demandPasses: 0, aborts: 0, roundTrips: 0,
  };
  /** Spaces by id (1-based, the frame table's owner ids). */
  readonly spaces = new Map<number, SpaceCore>();
  /** Pages with pins > 0, all spaces together. Written only by the spaces' pin/unpin/free. */
  pinnedPages = 0;
  /**
   * Eviction write-backs in flight (migrate.ts): copies submitted, maps not yet
   * landed. Their pages are InFlight; whoever needs one of them waits here.
   */
  readonly writeBacks = new Set<Promise<void>>();
  #nextSpaceId = 1;
  #lockTail: Promise<void> = Promise.resolve();
  #destroyed = false;
  #lost: DeviceLostError | undefined;

  constructor(device: GPUDevice, options: ResolvedPoolOptions, windows: GPUBuffer[]) {
    this.device = device;
    this.options = options;
    this.windows = windows;
    const frameCount = options.capacity / options.pageSize;
    this.frames = new FrameTable(frameCount, options.windowSize / options.pageSize);
    this.transfer = new Transfer(device, windows, options.writeChunk, options.stagingSlotSize, options.stagingSlots, options.label);
    PoolImpl.#watchLoss(device, this);
  }

  /**
   * One device-lost reaction per device, for all its live pools. The device
   * outlives its pools: a reaction per pool would keep every pool ever created
   * on it (found by the soak: ~2.7 KB of heap per pool created and destroyed),
   * or its remains, until the device goes. destroy() takes the pool out.
   */
  static #watchLoss(device: GPUDevice, pool: PoolImpl): void {
    let pools = livePools.get(device);
    if (!pools) {
      const set = new Set<PoolImpl>();
      livePools.set(device, (pools = set));
      device.lost.then((info) => {
        for (const p of set) p.#onLost(info);
      }, () => {});
    }
    pools.add(pool);
  }

  #onLost(info: GPUDeviceLostInfo): void {
    if (this.#destroyed) return;
    this.#lost = new DeviceLostError(info.reason, info.message, this.#deviceOnlyRanges());
  }

  get capacity(): number { return this.options.capacity; }
  get pageSize(): number { return this.options.pageSize; }
  get frameCount(): number { return this.frames.frameCount; }
  get pinLimit(): number { return this.options.pinLimit; }
  get windowCount(): number { return this.options.windowCount; }
  get windowSize(): number { return this.options.windowSize; }

  /** Throws if the pool cannot be used: destroyed, or its device lost. */
  check(): void {
    if (this.#lost) throw this.#lost;
    if (this.#destroyed) throw new DestroyedError('this pool');
  }

  get lostError(): DeviceLostError | undefined {
    return this.#lost;
  }

  #deviceOnlyRanges(): LostRange[] {
    const out: LostRange[] = [];
    for (const s of this.spaces.values()) out.push(...s.deviceOnlyRanges());
    return out;
  }

  registerSpace(make: (id: number) => SpaceCore): SpaceCore {
    this.check();
    assert(this.#nextSpaceId < 0xffff, 'too many spaces on one pool');
    const id = this.#nextSpaceId++;
    const s = make(id);
    this.spaces.set(id, s);
    return s;
  }

  unregisterSpace(id: number): void {
    this.spaces.delete(id);
  }

  /**
   * Run `fn` holding the pool lock: migrations, dispatch preparation and pins
   * are serialized per pool (like UVM's va_block lock, but pool-wide because
   * eviction crosses spaces). Host writes never take it: they synchronize
   * through the notifier instead.
   */
  async withLock<T>(fn: () => Promise<T>): Promise<T> {
    const prev = this.#lockTail;
    let release!: () => void;
    this.#lockTail = new Promise<void>((r) => (release = r));
    await prev;
    try {
      this.check();
      return await fn();
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

  stats(): PoolStats {
    const t = this.transfer.stats;
    return {
      capacity: this.capacity,
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

  /** Frame table and every space's page table agree (I4/F3). For tests. */
  checkInvariants(): void {
    this.frames.checkInvariants();
    for (const [id, s] of this.spaces) {
      s.table.checkInvariants();
      const t = s.table;
      for (let p = 0; p < t.pageCount; p++) {
        const f = t.frame[p]!;
        if (f === 0xffffffff) continue;
        assert(this.frames.owner[f] === id && this.frames.page[f] === p, `space ${id} page ${p} → frame ${f}, but the frame belongs to ${this.frames.owner[f]}:${this.frames.page[f]} (I4)`);
      }
    }
    for (let f = 0; f < this.frameCount; f++) {
      const o = this.frames.owner[f]!;
      if (o === 0) continue;
      const s = this.spaces.get(o);
      assert(s !== undefined, `frame ${f} owned by unknown space ${o}`);
      assert(s.table.frame[this.frames.page[f]!] === f, `frame ${f} → ${o}:${this.frames.page[f]}, which does not map it back (F3)`);
    }
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

/**
 * Create a pool on `device`. Windows are created inside an out-of-memory error
 * scope; if the device cannot give the whole capacity, the pool shrinks by
 * windows and goes on with what it got (`pool.capacity` says how much).
 */
export async function createPool(device: GPUDevice, options: PoolOptions = {}): Promise<Pool> {
  if (!device || typeof device.createBuffer !== 'function') {
    throw new InvalidArgumentError('createPool: pass a GPUDevice (in Node, from requestNodeDevice() in webgpu-hmm/node)');
  }
  let resolved = resolvePoolOptions(options, device.limits);
  const windows: GPUBuffer[] = [];
  for (let w = 0; w < resolved.windowCount; w++) {
    const size = Math.min(resolved.windowSize, resolved.capacity - w * resolved.windowSize);
    device.pushErrorScope('out-of-memory');
    const buf = device.createBuffer({
      label: `${resolved.label}:window[${w}]`,
      size,
      usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC | BufferUsage.COPY_DST,
    });
    const err = await device.popErrorScope();
    if (err) {
      buf.destroy();
      if (w === 0) throw new GpuOutOfMemoryError('createPool', size);
      resolved = { ...resolved, capacity: w * resolved.windowSize, windowCount: w, pinLimit: Math.min(resolved.pinLimit, w * resolved.windowSize) };
      break;
    }
    windows.push(buf);
  }
  assert(device.limits.maxStorageBuffersPerShaderStage >= resolved.windowCount + RUNTIME_STORAGE_BINDINGS, 'window count over the binding limit');
  return new PoolImpl(device, resolved, windows);
}
