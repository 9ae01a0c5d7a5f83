// Bound dispatches: a plain kernel (src/kernel/plain.ts) over ranges of the
// space bound directly as storage bindings — zero translation. The protocol is
// the declared one (fault/declared.ts) with the device page table replaced by
// the bindings themselves:
//
//   lock pool
//   again:
//     seq = sub.readBegin()                   sub watches every bound range
//     makeResident(pages)                     may await (eviction, staging)
//     each range: makeContiguous              consecutive frames of one window
//                                             (migrate/contiguous.ts; may move
//                                             other pages, never an earlier run)
//     if sub.readRetry(seq) or a page left → again
//   bind each range as (window, offset, byteLength), the resources beside them;
//   encode, submit                            — synchronous from the last check
//   mark the written ranges' pages Device     (no counters: the kernel's stores
//                                             are not seen, so a read_write range
//                                             is dirty as a whole)
//   unlock; await the queue
//
// After the submit the pages are ordinary resident pages again: a host write
// invalidates them, eviction may take their frames, compaction may move them
// — each of those copies or reuses a frame only after this dispatch in queue
// order, so a running dispatch never sees its run taken. Later dispatches find
// the run where it is (nothing moves when it is still consecutive).
//
// What is checked at the call (checkBound, synchronous): each range's binding
// is one the kernel declares as a storage buffer, its address meets the
// device's minStorageBufferOffsetAlignment and its length is a multiple of 4
// (WebGPU's binding rules), it fits one window (a binding sees one buffer:
// BindRangeError names the window size); every storage binding of the kernel
// has a range and every other binding a resource, none of them a runtime buffer.

import { assert } from '../assert.ts';
import { BindRangeError, GpuValidationError, InvalidArgumentError } from '../errors.ts';
import { isRuntimeBuffer } from '../gpu/runtime-buffers.ts';
import type { Kernel } from '../kernel/kernel.ts';
import { plainPipelineFor } from '../kernel/plain.ts';
import { RESOURCE_GROUP } from '../kernel/resources.ts';
import { makeContiguous } from '../migrate/contiguous.ts';
import { emptyReport, makeResident, type MigrationReport } from '../migrate/migrate.ts';
import type { SpaceCore } from '../space/state.ts';
import { checkBypass, reportUnexpectedFaults } from '../space/strict.ts';
import type { DirtyJournal } from './journal.ts';
import type { DispatchOrder } from './pass.ts';
import type { DispatchResult } from './dispatch-types.ts';

/** A range of the space bound directly to one of a plain kernel's storage buffers (`DispatchOptions.bind`). */
export interface BoundRange {
  /** The kernel's `@binding(n)` for this buffer. */
  readonly binding: number;
  /** Its `@group(g)`. Default 0. */
  readonly group?: number;
  /** First byte: a multiple of the device's minStorageBufferOffsetAlignment (256 on most devices). */
  readonly addr: number;
  /** Bytes, a multiple of 4, at most one pool window (the kernel's `arrayLength` is byteLength / element size). */
  readonly byteLength: number;
  /**
   * What the kernel does with it: 'read' or 'read-write'. Optional: the kernel's own
   * declaration decides (`var<storage, read_write>` is written); given, it must agree.
   */
  readonly access?: 'read' | 'read-write';
}

/** A binding of a plain kernel's that is not a range of the space: a uniform buffer, texture, sampler or buffer of the caller's own (`DispatchOptions.resources`). */
export interface KernelResource {
  /** The kernel's `@binding(n)` for it. */
  readonly binding: number;
  /** Its `@group(g)`: default 0 for a plain kernel; a prelude kernel's resources are in group 1 (RESOURCE_GROUP), the only value it accepts. */
  readonly group?: number;
  /** What WebGPU binds there. Never one of the runtime's buffers (a pool window, a page table). */
  readonly resource: GPUBindingResource;
}

/** A bound range, checked. */
export interface CheckedBound {
  readonly group: number;
  readonly binding: number;
  readonly first: number;
  readonly last: number;
  /** Bytes from the start of the first page to addr. */
  readonly offset: number;
  readonly byteLength: number;
  readonly write: boolean;
}

export interface CheckedResource {
  readonly group: number;
  readonly binding: number;
  readonly resource: GPUBindingResource;
}

function bindingNumber(v: unknown, what: string, label: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new InvalidArgumentError(`dispatch "${label}": ${what} must be a whole number ≥ 0, got ${String(v)}`);
  return v;
}

function bufferOf(r: GPUBindingResource): unknown {
  if (typeof r === 'object' && r !== null && 'buffer' in r) return (r as GPUBufferBinding).buffer;
  return r;
}

/** Check a prelude kernel's `resources` against the layout it was created with (group 1: src/kernel/resources.ts). */
export function checkKernelResources(kernel: Kernel, resources: readonly KernelResource[] | undefined): CheckedResource[] {
  const label = kernel.label;
  const layout = kernel.resources ?? [];
  if (resources !== undefined && !Array.isArray(resources)) throw new InvalidArgumentError(`dispatch "${label}": resources must be an array of { binding, resource }`);
  const out: CheckedResource[] = [];
  for (const r of resources ?? []) {
    const binding = bindingNumber(r?.binding, 'resources binding', label);
    if (r.group !== undefined && r.group !== RESOURCE_GROUP) {
      throw new InvalidArgumentError(`dispatch "${label}": a prelude kernel's resources are in group ${RESOURCE_GROUP}; leave group out or pass ${RESOURCE_GROUP}`);
    }
    if (!layout.some((e) => e.binding === binding)) {
      throw new InvalidArgumentError(
        `dispatch "${label}": resources names @binding(${binding}), which is not in the kernel's resources (${layout.map((e) => e.binding).join(', ') || 'none'}); list it in createKernel`,
      );
    }
    if (out.some((x) => x.binding === binding)) throw new InvalidArgumentError(`dispatch "${label}": resources @binding(${binding}) is given twice`);
    if (r.resource === undefined || r.resource === null) throw new InvalidArgumentError(`dispatch "${label}": resources entry @binding(${binding}) has no resource`);
    if (isRuntimeBuffer(bufferOf(r.resource))) {
      throw new InvalidArgumentError(
        `dispatch "${label}": resources @binding(${binding}) is one of the runtime's buffers (a pool window, page table or record); ` +
          'a kernel reaches the space only through the prelude (vm_load_*, vm_store_*)',
      );
    }
    out.push({ group: RESOURCE_GROUP, binding, resource: r.resource });
  }
  const missing = layout.filter((e) => !out.some((x) => x.binding === e.binding));
  if (missing.length > 0) {
    throw new InvalidArgumentError(`dispatch "${label}": the kernel's resources ${missing.map((e) => `@binding(${e.binding})`).join(', ')} are not given; pass them in resources`);
  }
  return out;
}

/** Check a plain kernel's `bind` and `resources` (synchronously, at the call). */
export function checkBound(
  space: SpaceCore, kernel: Kernel, bind: readonly BoundRange[] | undefined, resources: readonly KernelResource[] | undefined,
): { bound: CheckedBound[]; extents: Extent[]; resources: CheckedResource[] } {
  const label = kernel.label;
  const plain = kernel.plain;
  if (!plain) {
    throw new InvalidArgumentError(
      `dispatch "${label}": bind and resources are for plain kernels (createPlainKernel: a WGSL module with its own bindings); ` +
        'a prelude kernel reaches its data through read/write ranges and vm_load_*/vm_store_*',
    );
  }
  if (bind !== undefined && !Array.isArray(bind)) throw new InvalidArgumentError(`dispatch "${label}": bind must be an array of { binding, group?, addr, byteLength, access? }`);
  if (resources !== undefined && !Array.isArray(resources)) throw new InvalidArgumentError(`dispatch "${label}": resources must be an array of { binding, group?, resource }`);
  const pool = space.pool;
  const limits = pool.device.limits;
  const align = limits.minStorageBufferOffsetAlignment;
  const ps = space.pageSize;
  const declared = new Map(plain.bindings.map((b) => [`${b.group}:${b.binding}`, b]));
  const given = new Set<string>();
  const take = (group: number, binding: number) => {
    const key = `${group}:${binding}`;
    if (given.has(key)) throw new InvalidArgumentError(`dispatch "${label}": @group(${group}) @binding(${binding}) is given twice`);
    given.add(key);
    return declared.get(key);
  };
  const bound: CheckedBound[] = [];
  for (const r of bind ?? []) {
    const group = r?.group === undefined ? 0 : bindingNumber(r.group, 'bind group', label);
    const binding = bindingNumber(r?.binding, 'bind binding', label);
    const d = take(group, binding);
    if (!d || d.kind !== 'storage') {
      throw new InvalidArgumentError(
        `dispatch "${label}": bind names @group(${group}) @binding(${binding}), which the kernel ${d ? `declares as a ${d.kind} binding, not var<storage>` : 'does not declare'}; ` +
          `its storage buffers are ${plain.bindings.filter((b) => b.kind === 'storage').map((b) => `@group(${b.group}) @binding(${b.binding}) ${b.name}`).join(', ') || 'none'}`,
      );
    }
    space.checkRange(`dispatch "${label}" bind`, r.addr, r.byteLength);
    if (r.access !== undefined && r.access !== 'read' && r.access !== 'read-write') {
      throw new InvalidArgumentError(`dispatch "${label}": bind access must be 'read' or 'read-write', got ${String(r.access)}`);
    }
    if (r.access !== undefined && (r.access === 'read-write') !== d.write) {
      throw new InvalidArgumentError(
        `dispatch "${label}": bind says ${r.access} for ${d.name}, but the kernel declares it var<storage, ${d.write ? 'read_write' : 'read'}>: make them agree (or leave access out)`,
      );
    }
    if (r.byteLength === 0 || r.byteLength % 4 !== 0) {
      throw new BindRangeError(`dispatch "${label}": bind range for ${d.name} is ${r.byteLength} bytes; a storage binding is a positive multiple of 4 bytes`);
    }
    if (r.addr % align !== 0) {
      throw new BindRangeError(
        `dispatch "${label}": bind range for ${d.name} starts at ${r.addr}, which is not a multiple of this device's minStorageBufferOffsetAlignment (${align}); ` +
          `allocate it with space.alloc(n, { align: ${Math.max(align, 256)} }) or bind from an aligned address`,
      );
    }
    const first = space.pageOf(r.addr);
    const last = space.pageOf(r.addr + r.byteLength - 1);
    const windowBytes = pool.frames.windowFrames * ps;
    if (last - first + 1 > pool.frames.windowFrames || r.byteLength > limits.maxStorageBufferBindingSize) {
      throw new BindRangeError(
        `dispatch "${label}": bind range for ${d.name} spans ${(last - first + 1) * ps} bytes of pages, more than one pool window (${windowBytes} bytes, ` +
          `at most maxStorageBufferBindingSize ${limits.maxStorageBufferBindingSize}): one binding sees one buffer. Split it into ranges of at most ${windowBytes} bytes ` +
          '(one dispatch each, or several bindings), or run it as a prelude kernel with read/write ranges, which has no such limit',
      );
    }
    bound.push({ group, binding, first, last, offset: r.addr - first * ps, byteLength: r.byteLength, write: d.write });
  }
  const extents = extentsOf(bound, label);
  for (const e of extents) {
    if (e.last - e.first + 1 > pool.frames.windowFrames) {
      throw new BindRangeError(
        `dispatch "${label}": bind ranges on pages ${e.first}–${e.last} share pages, so they are bound from one run of ${(e.last - e.first + 1) * ps} bytes, ` +
          `more than one pool window (${pool.frames.windowFrames * ps} bytes): place them apart, on pages of their own`,
      );
    }
  }
  if (pool.windowCount === 1 && extents.some((e) => e.write) && extents.some((e) => !e.write)) {
    throw new BindRangeError(
      `dispatch "${label}": it binds ranges the kernel writes and ranges it only reads, and this pool has one window: WebGPU binds one buffer ` +
        'either written or read-only within a dispatch, so those ranges need windows of their own. Create the pool with maxWindowSize at most half its capacity ' +
        '(two windows or more), or declare the read buffers var<storage, read_write> in the kernel',
    );
  }
  const checkedResources: CheckedResource[] = [];
  for (const r of resources ?? []) {
    const group = r?.group === undefined ? 0 : bindingNumber(r.group, 'resources group', label);
    const binding = bindingNumber(r?.binding, 'resources binding', label);
    const d = take(group, binding);
    if (!d) throw new InvalidArgumentError(`dispatch "${label}": resources names @group(${group}) @binding(${binding}), which the kernel does not declare`);
    if (r.resource === undefined || r.resource === null) throw new InvalidArgumentError(`dispatch "${label}": resources entry @binding(${binding}) has no resource`);
    if (isRuntimeBuffer(bufferOf(r.resource))) {
      throw new InvalidArgumentError(
        `dispatch "${label}": resources @binding(${binding}) is one of the runtime's buffers (a pool window, page table or record); ` +
          'a kernel reaches the space only through bind ranges, which keep it inside its own pages: bind the range instead',
      );
    }
    checkedResources.push({ group, binding, resource: r.resource });
  }
  const missing = plain.bindings.filter((b) => !given.has(`${b.group}:${b.binding}`));
  if (missing.length > 0) {
    throw new InvalidArgumentError(
      `dispatch "${label}": the kernel declares ${missing.map((b) => `@group(${b.group}) @binding(${b.binding}) ${b.name}`).join(', ')} but the dispatch binds nothing there; ` +
        'give each storage buffer a bind range and every other binding a resources entry',
    );
  }
  return { bound, extents, resources: checkedResources };
}

/** Bound ranges that share pages are bound from one run: an extent (read-only, or written: never both). */
export interface Extent {
  readonly first: number;
  readonly last: number;
  readonly write: boolean;
}

function extentsOf(bound: readonly CheckedBound[], label: string): Extent[] {
  const order = bound.map((_, i) => i).sort((a, b) => bound[a]!.first - bound[b]!.first);
  const out: { first: number; last: number; write: boolean; members: CheckedBound[] }[] = [];
  for (const i of order) {
    const r = bound[i]!;
    const e = out[out.length - 1];
    if (e && r.first <= e.last) {
      if (e.write !== r.write || r.write) {
        // Written bindings of one buffer may not overlap another binding of it (WebGPU's aliasing rule), nor may a read-only one sit in the same run.
        const other = e.members.find((m) => m.write || r.write)!;
        throw new BindRangeError(
          `dispatch "${label}": bind ranges for @binding(${other.binding}) and @binding(${r.binding}) share a page and one of them is written; ` +
            'a written range needs pages of its own: align it to the page size (space.alloc(n, { align: space.pageSize }))',
        );
      }
      e.last = Math.max(e.last, r.last);
      e.members.push(r);
    } else {
      out.push({ first: r.first, last: r.last, write: r.write, members: [r] });
    }
  }
  return out.map(({ first, last, write }) => ({ first, last, write }));
}

/** What dispatchBound needs of the checked dispatch. */
export interface BoundDispatch {
  readonly kernel: Kernel;
  readonly grid: readonly [number, number, number];
  readonly bound: readonly CheckedBound[];
  readonly extents: readonly Extent[];
  readonly resources: readonly CheckedResource[];
  readonly readPages: Uint32Array;
  readonly writePages: Uint32Array;
  readonly expectNoFaults: boolean;
}

export async function dispatchBound(space: SpaceCore, checked: BoundDispatch, journal: DirtyJournal, order: DispatchOrder): Promise<DispatchResult> {
  const t0 = performance.now();
  const kernel = checked.kernel;
  const pool = space.pool;
  const device = pool.device;
  const pipeline = await plainPipelineFor(device, kernel);
  await order.after;
  const cancel = order.cancel;
  cancel?.check();
  const all = Uint32Array.from([...checked.readPages, ...checked.writePages]).sort();
  const report: MigrationReport = emptyReport();
  const moved = { pages: 0 };
  const cold: number[] = [];
  let retries = 0;
  let writeBacks: Promise<void>[] = [];
  const ps = space.pageSize;
  // Largest first: the big runs choose their slices while the pool has the most room.
  const ranges = [...checked.extents].sort((a, b) => b.last - b.first - (a.last - a.first));

  const submitted = await pool.withLock(async () => {
    space.check();
    cancel?.check();
    cancel?.begin();
    pool.groups.checkFits(space, all);
    checkBypass(space, kernel.label, all);
    for (const p of all) if (!space.table.isResident(p)) cold.push(p);
    const sub = all.length ? space.notifier.subscribe(all[0]! * ps, (all[all.length - 1]! + 1) * ps) : undefined;
    try {
      let runs: number[];
      for (;;) {
        const seq = sub?.readBegin() ?? 0;
        await placeCold(space, ranges, all, report);
        await makeResident(space, all, report, 'declared');
        space.check();
        runs = [];
        const fixed = new Set<number>();
        // A window holds this dispatch's written runs or its read-only ones, never both (WebGPU's usage scope).
        const written = new Map<number, boolean>();
        const wf = pool.frames.windowFrames;
        for (const [k, r] of ranges.entries()) {
          // Windows already holding this access first; then a fresh one, unless it is the last fresh window
          // and a range of the other access, with no window of its own yet, still waits for it.
          const pending = ranges.slice(k + 1).some((e) => e.write !== r.write) && ![...written.values()].includes(!r.write);
          const fresh = pool.windowCount - written.size;
          const tiers = [(w: number) => written.get(w) === r.write, (w: number) => !written.has(w) && (!pending || fresh > 1)];
          const f0 = await makeContiguous(space, r.first, r.last, fixed, moved, tiers);
          if (f0 === undefined) break;
          runs.push(f0);
          written.set(Math.floor(f0 / wf), r.write);
          for (let f = f0; f <= f0 + r.last - r.first; f++) fixed.add(f);
        }
        space.check();
        if (runs.length === ranges.length && !sub?.readRetry(seq) && stillPlaced(space, ranges, runs)) break;
        retries++;
      }
      cancel?.check();
      // ---- program the device: synchronous from here to submit ----
      const wf = pool.frames.windowFrames;
      const groups = new Map<number, GPUBindGroupEntry[]>();
      const entries = (g: number) => {
        let e = groups.get(g);
        if (!e) groups.set(g, (e = []));
        return e;
      };
      for (const r of checked.bound) {
        const i = ranges.findIndex((e) => e.first <= r.first && r.last <= e.last);
        const f0 = runs[i]! + (r.first - ranges[i]!.first);
        entries(r.group).push({
          binding: r.binding,
          resource: { buffer: pool.windows[Math.floor(f0 / wf)]!, offset: (f0 % wf) * ps + r.offset, size: r.byteLength },
        });
      }
      for (const r of checked.resources) entries(r.group).push({ binding: r.binding, resource: r.resource });
      device.pushErrorScope('validation');
      const enc = device.createCommandEncoder({ label: `${space.label}:bound:${kernel.label}` });
      const pass = enc.beginComputePass({ label: `${space.label}:${kernel.label}` });
      pass.setPipeline(pipeline);
      for (const [g, e] of groups) pass.setBindGroup(g, device.createBindGroup({ label: `${space.label}:${kernel.label}:group${g}`, layout: pipeline.getBindGroupLayout(g), entries: e }));
      const [x, y, z] = checked.grid;
      if (x * y * z > 0) pass.dispatchWorkgroups(x, y, z);
      pass.end();
      device.queue.submit([enc.finish()]);
      pool.transfer.noteCompute();
      const scope = device.popErrorScope();
      order.submitted();
      // The kernel's stores are not seen: every page of a read_write range is device-dirty from here.
      const t = space.table;
      const stamp = t.newDirtyStamp();
      const clean: number[] = [];
      for (const p of checked.writePages) if (t.markDeviceDirty(p, stamp)) clean.push(p);
      for (const p of all) pool.frames.reference(t.frameOf(p));
      journal.recordDirtied(clean);
      pool.counters.dispatches++;
      writeBacks = [...pool.writeBacks];
      return { scope, done: device.queue.onSubmittedWorkDone() };
    } finally {
      sub?.remove();
    }
  });

  const err = await submitted.scope;
  if (err) throw new GpuValidationError(`dispatch "${kernel.label}"`, err.message);
  await submitted.done;
  space.check();
  await pool.settleWriteBacks(writeBacks);
  if (pool.events.active) {
    pool.events.emit({
      type: 'pass', time: performance.now(), start: t0, space: space.label, spaceId: space.id, kernel: kernel.label,
      mode: 'declared', aborted: false, workgroups: checked.grid[0] * checked.grid[1] * checked.grid[2],
    });
  }
  if (checked.expectNoFaults) reportUnexpectedFaults(space, kernel.label, cold);
  return { mode: 'declared', ...report, retries, ms: performance.now() - t0, pagesCompacted: moved.pages };
}

/**
 * Fault in each bound range that has no page on the device straight into a
 * free run of frames (FrameTable.findFreeRun, then seek: makeResident's next
 * takeRun starts there), so a cold range is uploaded once, where it will be
 * bound, rather than uploaded and then moved by compaction. Only when every
 * page the dispatch needs fits in the free frames: nothing is evicted here,
 * so placing one range never takes another's pages.
 */
async function placeCold(space: SpaceCore, ranges: readonly Extent[], all: Uint32Array, report: MigrationReport): Promise<void> {
  const t = space.table;
  const frames = space.pool.frames;
  let need = 0;
  for (const p of all) if (!t.isResident(p)) need++;
  if (need === 0 || frames.freeCount < need) return;
  const access = new Map<number, boolean>();
  for (const r of ranges) {
    let cold = true;
    for (let p = r.first; cold && p <= r.last; p++) cold = !t.isResident(p) && !t.isInFlight(p);
    if (!cold) continue;
    const n = r.last - r.first + 1;
    let s = frames.findFreeRun(n, (w) => access.get(w) === r.write);
    if (s < 0) s = frames.findFreeRun(n, (w) => !access.has(w));
    if (s < 0) continue;
    access.set(Math.floor(s / frames.windowFrames), r.write);
    frames.seek(s);
    const pages = new Uint32Array(n);
    for (let k = 0; k < n; k++) pages[k] = r.first + k;
    await makeResident(space, pages, report, 'declared');
  }
}

/** Every range still in its run (a later range's compaction never moves an earlier run: `fixed`). */
function stillPlaced(space: SpaceCore, ranges: readonly Extent[], runs: readonly number[]): boolean {
  const t = space.table;
  return ranges.every((r, i) => {
    for (let p = r.first; p <= r.last; p++) if (t.frameOf(p) !== runs[i]! + (p - r.first)) return false;
    assert(t.isResident(r.first), 'bound page without a frame');
    return true;
  });
}
