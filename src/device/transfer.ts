// The two ways bytes cross between host memory and the pool's windows.
//
// Upload (host → device):
//  - `queue.writeBuffer` in pieces of `writeChunk` bytes: the runtime's bounce
//    buffer (Dawn copies into its own staging memory). No round trip: best for
//    small transfers.
//  - a ring of persistently reused MAP_WRITE staging buffers: the "pinned host
//    memory" path of the seeds. The host copies straight into mapped memory and
//    the GPU copies from there; a slot is re-mapped in the background after its
//    copy is submitted. Best for large transfers (measured: bench/upload-paths.ts).
// Readback (device → host): a ring of reused MAP_READ buffers (idle write-back
// buffers, when enough are free); every slot's copy is submitted before the
// first map is awaited, so copies and maps overlap.
// Detached readback (eviction write-back): copies into buffers from a free
// list, submitted at once; the caller does not wait for the maps.
//
// Pieces never straddle a window (the caller's runs are per window already).
//
// Buffers come from the pool's allocator (src/device/buffer-alloc.ts), which
// gives device memory back when the device is out of it; the rings are made
// on first use, write-back buffers are reserved before the eviction that
// needs them (reserveDetached), and releaseIdle() gives the idle ones back.

import { fail } from '../assert.ts';
import { DestroyedError } from '../errors.ts';
import { BufferUsage, MapMode } from '../gpu/constants.ts';

/**
 * Host bytes an upload reads: `range` gives [offset, offset + length) to read
 * at once (a view when the bytes are contiguous in memory — the space's sparse
 * host memory, src/space/host-memory.ts — else a copy). A plain Uint8Array
 * serves as well.
 */
export interface HostSource {
  range(offset: number, length: number): Uint8Array;
  /**
   * Called before an upload reads [offset, offset + length) and awaits: a
   * promise when some of it is being read in off the JavaScript thread (a
   * file-backed space's read-ahead), which the staging path waits for rather
   * than read the bytes again; a source may start reading what comes next.
   * Optional.
   */
  ready?(offset: number, length: number): Promise<void> | undefined;
  /**
   * Copy [offset, offset + dest.length) into `dest` (a staging slot's mapped
   * memory). Synchronously when the bytes are in memory (returns undefined);
   * bytes only a backing store holds (a file-backed space's segments not in
   * memory) may be read from it straight into `dest`, off the JavaScript
   * thread, without keeping them in host memory (returns the read). The
   * staging path then fills its slots this way, several at once: a stream
   * from a file costs one copy, and its reads overlap the GPU's copies.
   * Optional; without it the staging path copies `range`.
   */
  fill?(offset: number, dest: Uint8Array): Promise<void> | undefined;
}

function hostRange(host: Uint8Array | HostSource, offset: number, length: number): Uint8Array {
  return host instanceof Uint8Array ? host.subarray(offset, offset + length) : host.range(offset, length);
}

/** One contiguous transfer between host bytes and a window. */
export interface Piece {
  readonly hostOffset: number;
  readonly window: number;
  readonly windowOffset: number;
  readonly byteLength: number;
}

export interface TransferStats {
  writeBufferBytes: number;
  writeBufferCalls: number;
  stagingBytes: number;
  stagingSubmits: number;
  /** Staging slot loads copied by writeBuffer instead: the slot's map was pending behind compute work. */
  stagingBypasses: number;
  readbackBytes: number;
  readbackSubmits: number;
  /** Awaits of a map that had not completed yet: queue round trips the transfers waited for. */
  roundTrips: number;
}

/**
 * A map promise that may sit unawaited until the slot's next use: mark it
 * handled so a rejection (device loss) is not an unhandled rejection, while
 * whoever awaits it still gets the error.
 */
function observed(p: Promise<void>): Promise<void> {
  p.catch(() => undefined);
  return p;
}

/** One part of a piece that lands in a slot: `slotOffset` in the slot, the rest as in Piece. */
interface Part {
  readonly slotOffset: number;
  readonly hostOffset: number;
  readonly window: number;
  readonly windowOffset: number;
  readonly byteLength: number;
}

/** Cut `pieces` into slot loads of at most `slotSize` bytes: one array of parts per slot, in order. */
function* slotLoads(pieces: readonly Piece[], slotSize: number): Generator<Part[]> {
  let load: Part[] = [];
  let used = 0;
  for (const p of pieces) {
    for (let off = 0; off < p.byteLength;) {
      const n = Math.min(p.byteLength - off, slotSize - used);
      load.push({ slotOffset: used, hostOffset: p.hostOffset + off, window: p.window, windowOffset: p.windowOffset + off, byteLength: n });
      used += n;
      off += n;
      if (used === slotSize) {
        yield load;
        load = [];
        used = 0;
      }
    }
  }
  if (load.length > 0) yield load;
}

interface Slot {
  readonly buffer: GPUBuffer;
  /** Resolves when the slot is mapped and free to fill (upload) / drained (readback). */
  ready: Promise<void>;
  /** `ready` has not resolved yet (awaiting it is a round trip). */
  pending: boolean;
  /** Upload: the mapped range, got once per mapping (a fill that failed leaves it for the next). */
  mapped?: Uint8Array | undefined;
  /** Upload: `computeSubmits` when its last copy was submitted. */
  copiedAt?: number;
}

/** Set slot.ready to a map promise, tracking whether it is still pending. */
function mapping(slot: Slot, p: Promise<void>): void {
  slot.pending = true;
  slot.ready = observed(p.then(() => {
    slot.pending = false;
  }));
}

/**
 * Makes a buffer, or fails with GpuOutOfMemoryError (src/device/buffer-alloc.ts).
 * `protect`: frames a shrink of the pool must leave alone ('all': no shrink).
 */
export type Allocate = (desc: GPUBufferDescriptor, protect?: readonly number[] | 'all') => Promise<GPUBuffer>;

export class Transfer {
  readonly #device: GPUDevice;
  readonly #allocate: Allocate;
  readonly #windows: readonly GPUBuffer[];
  readonly #writeChunk: number;
  readonly #slotSize: number;
  readonly #slotCount: number;
  readonly #label: string;
  #upSlots: Slot[] | undefined;
  #upNext = 0;
  #downSlots: Slot[] | undefined;
  /** destroy() ran (the pool was destroyed): a transfer waiting on a map stops there, before it copies or submits. */
  #destroyed = false;
  /**
   * Compute work submitted on the queue so far (noteCompute). A staging slot whose map is still
   * pending with compute submitted after its copy would be waited for behind that work: the
   * upload takes writeBuffer for that slot's load instead (see staging).
   */
  #computeSubmits = 0;
  readonly stats: TransferStats = {
    writeBufferBytes: 0, writeBufferCalls: 0, stagingBytes: 0, stagingSubmits: 0, stagingBypasses: 0, readbackBytes: 0, readbackSubmits: 0, roundTrips: 0,
  };

  constructor(
    device: GPUDevice, windows: readonly GPUBuffer[], writeChunk: number, slotSize: number, slotCount: number, label: string,
    allocate: Allocate = (desc) => Promise.resolve(device.createBuffer(desc)),
  ) {
    this.#device = device;
    this.#allocate = allocate;
    this.#windows = windows;
    this.#writeChunk = writeChunk;
    this.#slotSize = slotSize;
    this.#slotCount = slotCount;
    this.#label = label;
  }

  /** Staging, readback and write-back buffers alive now (for leak checks). */
  get bufferCount(): number {
    return (this.#upSlots?.length ?? 0) + (this.#downSlots?.length ?? 0) + this.#detachedAll.size;
  }

  /**
   * Wait for a slot's map. The pool may be destroyed meanwhile (its buffers
   * with it: the map rejects, or resolves on a destroyed buffer): then the
   * transfer ends with DestroyedError instead of touching a destroyed buffer.
   */
  async #await(ready: Promise<void>): Promise<void> {
    try {
      await ready;
    } catch (e) {
      if (this.#destroyed) throw new DestroyedError('the pool');
      throw e;
    }
    if (this.#destroyed) throw new DestroyedError('the pool');
  }

  #window(i: number): GPUBuffer {
    const w = this.#windows[i];
    if (!(w !== undefined)) fail(`no window ${i}`);
    return w;
  }

  /** Upload with queue.writeBuffer, `writeChunk` bytes a call. Synchronous: the bytes are captured now. */
  writeBuffer(host: Uint8Array | HostSource, pieces: readonly Piece[]): void {
    const q = this.#device.queue;
    for (const p of pieces) {
      const w = this.#window(p.window);
      const bytes = hostRange(host, p.hostOffset, p.byteLength);
      for (let off = 0; off < p.byteLength; off += this.#writeChunk) {
        const n = Math.min(this.#writeChunk, p.byteLength - off);
        q.writeBuffer(w, p.windowOffset + off, bytes, off, n);
        this.stats.writeBufferCalls++;
      }
      this.stats.writeBufferBytes += p.byteLength;
    }
  }

  async #makeSlots(usage: number, mappedAtCreation: boolean, kind: string, protect: 'all' | undefined): Promise<Slot[]> {
    const slots: Slot[] = [];
    try {
      for (let i = 0; i < this.#slotCount; i++) {
        const buffer = await this.#allocate({ label: `${this.#label}:${kind}[${i}]`, size: this.#slotSize, usage, mappedAtCreation }, protect);
        slots.push({ buffer, ready: Promise.resolve(), pending: false });
      }
    } catch (e) {
      for (const s of slots) s.buffer.destroy();
      throw e;
    }
    return slots;
  }

  /**
   * Make a ring now, at a point where the caller holds no frame a shrink of
   * the pool could take (migrate.ts calls it before collecting frames); made
   * later, on first use, it may only take idle memory back.
   */
  async prepare(ring: 'up' | 'down'): Promise<void> {
    if (ring === 'up') await this.#upRing(undefined);
    else await this.#downRing(undefined);
  }

  /** The upload ring, made on first use. */
  async #upRing(protect: 'all' | undefined): Promise<Slot[]> {
    if (this.#upSlots) return this.#upSlots;
    const made = await this.#makeSlots(BufferUsage.MAP_WRITE | BufferUsage.COPY_SRC, true, 'staging', protect);
    if (this.#upSlots) {
      for (const s of made) s.buffer.destroy();
      return this.#upSlots;
    }
    return (this.#upSlots = made);
  }

  /**
   * The read-back ring, made on first use (a shrink's write-back during the making may have made it
   * already). Idle write-back buffers are the same kind of buffer: when enough sit in the free list
   * (evictions came first, as in a stream that ends by reading its results home), the ring is made
   * of them rather than of new ones — measured: `npm run bench:large`'s reads home after its stream
   * made 16 MiB of ring on top of 64 MiB of idle write-back buffers.
   */
  async #downRing(protect: 'all' | undefined): Promise<Slot[]> {
    if (this.#downSlots) return this.#downSlots;
    if (this.#detachedFree.length >= this.#slotCount) {
      const adopted = this.#detachedFree.splice(this.#detachedFree.length - this.#slotCount);
      for (const b of adopted) this.#detachedAll.delete(b);
      return (this.#downSlots = adopted.map((buffer) => ({ buffer, ready: Promise.resolve(), pending: false })));
    }
    const made = await this.#makeSlots(BufferUsage.MAP_READ | BufferUsage.COPY_DST, false, 'readback', protect);
    if (this.#downSlots) {
      for (const s of made) s.buffer.destroy();
      return this.#downSlots;
    }
    return (this.#downSlots = made);
  }

  /**
   * Upload through the staging ring. Awaits a free slot before each fill; the
   * host bytes of a piece are read at the moment its slot is filled, so a caller
   * that must not upload bytes a host write replaced meanwhile watches the
   * range with the notifier (see migrate.ts).
   */
  async staging(host: Uint8Array | HostSource, pieces: readonly Piece[]): Promise<void> {
    const ring = await this.#upRing('all');
    const direct = host instanceof Uint8Array || !host.fill ? undefined : host;
    /** Slots whose reads are still running (direct fills): each submits its copy when they end. */
    const filling: Promise<void>[] = [];
    try {
      for (const load of slotLoads(pieces, this.#slotSize)) {
        const slot = ring[this.#upNext]!;
        this.#upNext = (this.#upNext + 1) % ring.length;
        if (!direct && !(host instanceof Uint8Array) && host.ready) {
          const first = load[0]!;
          const last = load[load.length - 1]!;
          const r = host.ready(first.hostOffset, last.hostOffset + last.byteLength - first.hostOffset);
          if (r) await r;
        }
        if (slot.pending && !slot.mapped && (slot.copiedAt ?? 0) < this.#computeSubmits) {
          // The slot's map resolves only after the compute submitted behind its copy (a stream of
          // dispatches, each uploading its chunk): rather than wait for that work, copy this load
          // with writeBuffer now. Measured: 8 MiB chunks streamed at 4x a 32 MiB pool (`oversub`).
          this.#writeLoad(host, load);
          continue;
        }
        if (slot.pending) this.stats.roundTrips++;
        await this.#await(slot.ready);
        const mapped = (slot.mapped ??= new Uint8Array(slot.buffer.getMappedRange(0, this.#slotSize)));
        let reads: Promise<void>[] | undefined;
        for (const c of load) {
          const dest = mapped.subarray(c.slotOffset, c.slotOffset + c.byteLength);
          const r = direct ? direct.fill!(c.hostOffset, dest) : (dest.set(hostRange(host, c.hostOffset, c.byteLength)), undefined);
          if (r) (reads ??= []).push(r);
        }
        if (!reads) {
          this.#submitSlot(slot, load);
          continue;
        }
        // The slot's memory is being read into off the JavaScript thread: it is busy until the reads
        // end and its copy is submitted (its next use waits for that, then for the map after it).
        // A failed read leaves it mapped and free again. destroy() leaves its buffer to the end.
        this.#filling.add(slot.buffer);
        const done = Promise.all(reads).then(
          () => {
            this.#filling.delete(slot.buffer);
            if (this.#destroyed) {
              slot.buffer.destroy();
              throw new DestroyedError('the pool');
            }
            this.#submitSlot(slot, load);
          },
          (e: unknown) => {
            this.#filling.delete(slot.buffer);
            if (this.#destroyed) slot.buffer.destroy();
            slot.ready = Promise.resolve();
            slot.pending = false;
            throw e;
          },
        );
        slot.pending = true;
        slot.ready = observed(done.then(() => slot.ready));
        filling.push(observed(done));
      }
    } finally {
      // Every copy is submitted before this returns (work issued afterwards reads the frames), and
      // a failure waits for the reads still running into slots before it is reported.
      const settled = await Promise.allSettled(filling);
      for (const r of settled) if (r.status === 'rejected') throw r.reason;
    }
  }

  /** Compute work was submitted on the queue (fault/ calls this for every pass it submits). */
  noteCompute(): void {
    this.#computeSubmits++;
  }

  /** One slot load by writeBuffer (the bytes are captured at the call). */
  #writeLoad(host: Uint8Array | HostSource, load: readonly Part[]): void {
    this.writeBuffer(host, load.map((c) => ({ hostOffset: c.hostOffset, window: c.window, windowOffset: c.windowOffset, byteLength: c.byteLength })));
    this.stats.stagingBypasses++;
  }

  /** Slots' buffers being read into (direct fills): destroy() lets the reads end first. */
  readonly #filling = new Set<GPUBuffer>();

  /** The slot is filled: unmap it, copy its parts to their windows, and map it again for the next fill. */
  #submitSlot(slot: Slot, load: readonly Part[]): void {
    slot.buffer.unmap();
    slot.mapped = undefined;
    const enc = this.#device.createCommandEncoder({ label: `${this.#label}:upload` });
    for (const c of load) enc.copyBufferToBuffer(slot.buffer, c.slotOffset, this.#window(c.window), c.windowOffset, c.byteLength);
    this.#device.queue.submit([enc.finish()]);
    for (const c of load) this.stats.stagingBytes += c.byteLength;
    this.stats.stagingSubmits++;
    slot.copiedAt = this.#computeSubmits;
    mapping(slot, slot.buffer.mapAsync(MapMode.WRITE));
  }

  /**
   * Read pieces back through the ring: every slot's copy is submitted before
   * the first map is awaited, and each slot drained takes the next load at
   * once, so the GPU copies the next bytes while these are drained (a rolling
   * ring: measured faster than filling and draining the whole ring in turns,
   * the `readback` benchmark). `sink` gets each piece's bytes (a view valid
   * only during the call).
   */
  async readback(pieces: readonly Piece[], sink: (hostOffset: number, bytes: Uint8Array) => void): Promise<void> {
    const slots = await this.#downRing('all');
    const loads = slotLoads(pieces, this.#slotSize);
    const copy = (enc: GPUCommandEncoder, slot: Slot, load: readonly Part[]): void => {
      for (const c of load) enc.copyBufferToBuffer(this.#window(c.window), c.windowOffset, slot.buffer, c.slotOffset, c.byteLength);
    };
    /** Slots with a copy submitted, in the order they are drained. */
    const queue: { slot: Slot; load: Part[] }[] = [];
    let next = loads.next();
    const enc = this.#device.createCommandEncoder({ label: `${this.#label}:readback` });
    for (const slot of slots) {
      if (next.done) break;
      if (slot.pending) this.stats.roundTrips++;
      await this.#await(slot.ready);
      copy(enc, slot, next.value);
      queue.push({ slot, load: next.value });
      next = loads.next();
    }
    this.#device.queue.submit([enc.finish()]);
    this.stats.readbackSubmits++;
    for (const b of queue) mapping(b.slot, b.slot.buffer.mapAsync(MapMode.READ));
    while (queue.length > 0) {
      const b = queue.shift()!;
      try {
        if (b.slot.pending) this.stats.roundTrips++;
        await this.#await(b.slot.ready);
      } finally {
        b.slot.ready = Promise.resolve();
        b.slot.pending = false;
      }
      const mapped = new Uint8Array(b.slot.buffer.getMappedRange());
      for (const c of b.load) {
        sink(c.hostOffset, mapped.subarray(c.slotOffset, c.slotOffset + c.byteLength));
        this.stats.readbackBytes += c.byteLength;
      }
      b.slot.buffer.unmap();
      if (next.done) continue;
      const e = this.#device.createCommandEncoder({ label: `${this.#label}:readback` });
      copy(e, b.slot, next.value);
      this.#device.queue.submit([e.finish()]);
      this.stats.readbackSubmits++;
      mapping(b.slot, b.slot.buffer.mapAsync(MapMode.READ));
      queue.push({ slot: b.slot, load: next.value });
      next = loads.next();
    }
  }

  /** MAP_READ buffers of `slotSize` for detached read-backs, free for the next one. */
  #detachedFree: GPUBuffer[] = [];
  /** Every detached read-back buffer alive, free or taken (destroy() ends them all). */
  readonly #detachedAll = new Set<GPUBuffer>();
  #detachedMade = 0;
  /** Bytes of detached read-back buffers taken and not yet drained. */
  detachedBytes = 0;

  /** Are there idle write-back buffers enough for `bytes` (no reservation needed)? */
  hasDetached(bytes: number): boolean {
    return this.#detachedFree.length >= Math.ceil(bytes / this.#slotSize);
  }

  /**
   * Make sure the next read-backs of `bytes` in all can take their buffers
   * from the free list (readbackDetached must not wait: its copies are
   * submitted before it returns). `protect`: the victims' frames.
   */
  async reserveDetached(bytes: number, protect: readonly number[]): Promise<void> {
    const want = Math.ceil(bytes / this.#slotSize);
    while (this.#detachedFree.length < want) {
      const buffer = await this.#allocate({
        label: `${this.#label}:write-back[${this.#detachedMade++}]`, size: this.#slotSize, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST,
      }, protect);
      this.#detachedAll.add(buffer);
      this.#detachedFree.push(buffer);
    }
  }

  /** Destroy the idle write-back buffers (the device is out of memory); returns the bytes given back. */
  releaseIdle(): number {
    const n = this.#detachedFree.length;
    for (const b of this.#detachedFree) {
      b.destroy();
      this.#detachedAll.delete(b);
    }
    this.#detachedFree = [];
    return n * this.#slotSize;
  }

  /**
   * Read pieces back without waiting for them: every copy is encoded and
   * submitted before this returns, so queue work issued afterwards (an upload
   * into the same frames) runs after the copies. The promise maps the buffers,
   * hands each part to `sink` (a view valid only during the call) and gives
   * the buffers back for the next read-back. Buffers come from a free list and
   * are made when it is empty; callers bound how many are out at once.
   */
  readbackDetached(pieces: readonly Piece[], sink: (hostOffset: number, bytes: Uint8Array) => void): Promise<void> {
    const size = this.#slotSize;
    const enc = this.#device.createCommandEncoder({ label: `${this.#label}:write-back` });
    const bufs: { buffer: GPUBuffer; load: Part[] }[] = [];
    for (const load of slotLoads(pieces, size)) {
      let buffer = this.#detachedFree.pop();
      if (!buffer) {
        buffer = this.#device.createBuffer({
          label: `${this.#label}:write-back[${this.#detachedMade++}]`, size, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST,
        });
        this.#detachedAll.add(buffer);
      }
      this.detachedBytes += size;
      for (const c of load) enc.copyBufferToBuffer(this.#window(c.window), c.windowOffset, buffer, c.slotOffset, c.byteLength);
      bufs.push({ buffer, load });
    }
    this.#device.queue.submit([enc.finish()]);
    this.stats.readbackSubmits++;
    this.stats.roundTrips++; // it waits for the GPU, though off the path of whoever submitted it
    const maps = bufs.map((b) => observed(b.buffer.mapAsync(MapMode.READ)));
    return observed((async () => {
      let i = 0;
      try {
        for (; i < bufs.length; i++) {
          const b = bufs[i]!;
          await this.#await(maps[i]!);
          const mapped = new Uint8Array(b.buffer.getMappedRange());
          for (const c of b.load) {
            sink(c.hostOffset, mapped.subarray(c.slotOffset, c.slotOffset + c.byteLength));
            this.stats.readbackBytes += c.byteLength;
          }
          b.buffer.unmap();
          this.#detachedFree.push(b.buffer);
          this.detachedBytes -= size;
        }
      } finally {
        // A failed map (device lost, pool destroyed): the rest are not reused.
        for (; i < bufs.length; i++) {
          bufs[i]!.buffer.destroy();
          this.#detachedAll.delete(bufs[i]!.buffer);
          this.detachedBytes -= size;
        }
      }
    })());
  }

  destroy(): void {
    this.#destroyed = true;
    for (const b of this.#detachedAll) b.destroy();
    this.#detachedAll.clear();
    this.#detachedFree = [];
    // A slot still being read into (a direct fill, off the JavaScript thread) is destroyed when its
    // reads end: its mapped memory must outlive them.
    for (const s of this.#upSlots ?? []) if (!this.#filling.has(s.buffer)) s.buffer.destroy();
    for (const s of this.#downSlots ?? []) s.buffer.destroy();
    this.#upSlots = undefined;
    this.#downSlots = undefined;
  }
}
