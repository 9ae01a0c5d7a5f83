// Fault injection for Dawn tests: lose the device, or make an allocation run
// out of memory, at a precise GPU call; and an oracle of which pages are
// device-dirty, built from what the test did and the pool's events only.

import { expect } from 'vitest';
import { requestNodeDevice, type NodeDevice } from '../../src/node.ts';
import type { HmmEvent, LostRange, Pool } from '../../src/index.ts';
import type { DeviceContext } from './gpu.ts';

export type GpuCallKind = 'submit' | 'writeBuffer' | 'mapAsync';

/**
 * Count the GPU calls made on `device` from now on — queue.submit,
 * queue.writeBuffer, and mapAsync of the buffers it creates from now on —
 * and run `action` right after the `at`-th (1-based) has been made. Install
 * before createPool so every buffer of the pool is seen.
 */
export function onGpuCall(device: GPUDevice, at: number, action: (kind: GpuCallKind) => void): { readonly count: number; readonly fired: GpuCallKind | undefined } {
  const state = { count: 0, fired: undefined as GpuCallKind | undefined };
  const hit = (kind: GpuCallKind) => {
    state.count++;
    if (state.count === at) {
      state.fired = kind;
      action(kind);
    }
  };
  const q = device.queue;
  const submit = q.submit.bind(q);
  const writeBuffer = q.writeBuffer.bind(q) as (...a: unknown[]) => void;
  const createBuffer = device.createBuffer.bind(device);
  Object.assign(q, {
    submit: (cbs: Iterable<GPUCommandBuffer>) => {
      submit(cbs);
      hit('submit');
    },
    writeBuffer: (...a: unknown[]) => {
      writeBuffer(...a);
      hit('writeBuffer');
    },
  });
  Object.assign(device, {
    createBuffer: (desc: GPUBufferDescriptor) => {
      const b = createBuffer(desc);
      const mapAsync = b.mapAsync.bind(b);
      Object.assign(b, {
        mapAsync: (...a: Parameters<GPUBuffer['mapAsync']>) => {
          const p = mapAsync(...a);
          hit('mapAsync');
          return p;
        },
      });
      return b;
    },
  });
  return state;
}

/**
 * A second device for pool.recover(), destroyed after the test. Errors on it
 * that nobody captured fail the test (the first device's are checked by
 * testWithDevice).
 */
export async function spareDevice(ctx: DeviceContext): Promise<NodeDevice> {
  const node = await requestNodeDevice();
  const uncaptured: string[] = [];
  node.device.addEventListener('uncapturederror', (ev) => uncaptured.push((ev as GPUUncapturedErrorEvent).error.message));
  ctx.track({ destroy: () => {
    node.destroy();
    expect(uncaptured, 'uncaptured WebGPU errors on the spare device').toEqual([]);
  } });
  return node;
}

/**
 * Which pages of one space hold data whose only copy is on the device, from
 * the test's side: a dispatch that resolved dirtied the pages it wrote — as of
 * its last pass, so a to-host event after that pass (a durable write-back)
 * cleans them again — a host write of whole pages cleans them, and every
 * 'migration' event to the host (eviction write-back, read, snapshot, durable
 * write-back) cleans the pages it lists.
 */
export class DirtyOracle {
  readonly dirty = new Set<number>();
  readonly #pageSize: number;
  readonly #off: () => void;
  /** Bytes moved to the host, by cause, as the events told. */
  readonly toHost = new Map<string, number>();

  constructor(pool: Pool, spaceId: number) {
    this.#pageSize = pool.pageSize;
    this.#off = pool.on((e: HmmEvent) => {
      if (e.spaceId !== spaceId) return;
      if (e.type === 'pass') this.#sincePass.clear();
      if (e.type !== 'migration' || e.direction !== 'to-host') return;
      for (const p of e.pageList) {
        this.dirty.delete(p);
        this.#sincePass.add(p);
      }
      this.toHost.set(e.cause, (this.toHost.get(e.cause) ?? 0) + e.bytes);
    });
  }

  /** Pages that went home since the last pass of this space. */
  readonly #sincePass = new Set<number>();

  /** A dispatch that wrote [addr, addr + byteLength) resolved. */
  dispatched(addr: number, byteLength: number): void {
    for (let p = Math.floor(addr / this.#pageSize); p * this.#pageSize < addr + byteLength; p++) if (!this.#sincePass.has(p)) this.dirty.add(p);
  }

  /** The host wrote [addr, addr + byteLength): whole pages are host-valid now (partial ones came home first: an event says so). */
  hostWrote(addr: number, byteLength: number): void {
    for (let p = Math.ceil(addr / this.#pageSize); (p + 1) * this.#pageSize <= addr + byteLength; p++) this.dirty.delete(p);
  }

  ranges(): LostRange[] {
    const out: { addr: number; byteLength: number }[] = [];
    for (const p of [...this.dirty].sort((a, b) => a - b)) {
      const last = out[out.length - 1];
      if (last && last.addr + last.byteLength === p * this.#pageSize) last.byteLength += this.#pageSize;
      else out.push({ addr: p * this.#pageSize, byteLength: this.#pageSize });
    }
    return out;
  }

  stop(): void {
    this.#off();
  }
}

/** Reject if `p` has not settled within `ms`: a hung promise fails the test with its name instead of timing the whole test out. */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms))),
  ]);
}

/**
 * Make allocations on `device` run out of memory, as a device that has none
 * left does: a buffer made inside an 'out-of-memory' error scope for which
 * `fail(desc)` says so gets an out-of-memory error when that scope is popped
 * (the buffer itself is made: the runtime must destroy it). `failed` lists the
 * labels of the buffers failed so far.
 */
export function failAllocations(device: GPUDevice, fail: (desc: GPUBufferDescriptor) => boolean): { readonly failed: string[] } {
  const failed: string[] = [];
  const scopes: { filter: GPUErrorFilter; fail: boolean }[] = [];
  const push = device.pushErrorScope.bind(device);
  const pop = device.popErrorScope.bind(device);
  const createBuffer = device.createBuffer.bind(device);
  Object.assign(device, {
    pushErrorScope: (filter: GPUErrorFilter) => {
      scopes.push({ filter, fail: false });
      push(filter);
    },
    popErrorScope: async () => {
      const scope = scopes.pop();
      const real = await pop();
      return scope?.fail ? ({ message: 'out of memory (injected)' } as GPUError) : real;
    },
    createBuffer: (desc: GPUBufferDescriptor) => {
      const top = scopes[scopes.length - 1];
      if (top?.filter === 'out-of-memory' && fail(desc)) {
        top.fail = true;
        failed.push(desc.label ?? '');
      }
      return createBuffer(desc);
    },
  });
  return { failed };
}
