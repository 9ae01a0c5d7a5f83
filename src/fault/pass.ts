// One pass of a kernel over an address space: what declared and demand
// dispatches share. Checking the dispatch's arguments, compiling, and the
// synchronous "program the device" step — uniforms, clear the record, encode,
// submit, copy the record out — then reading the record back.
//
// A pass may run one slice [sliceBase, sliceEnd) of the dispatch's grid,
// launched as a compact 1-, 2- or 3-D grid; the generated entry point maps each
// launched workgroup back to its place in the dispatch (src/kernel/link.ts).

import { MAX_KERNEL_ARGS, Mode, uniformWords } from '../abi.ts';
import { GpuValidationError, InvalidArgumentError } from '../errors.ts';
import type { Cancellation } from '../lifetime.ts';
import { MapMode } from '../gpu/constants.ts';
import type { Kernel } from '../kernel/kernel.ts';
import { pipelineFor, recordStride, replayUnit, variantConfig, wordPerInvocation, type ReplayForm, type TransactionForm } from '../kernel/pipelines.ts';
import { MAX_NARROW_SPACE_SIZE, MAX_REPLAY_WORKGROUPS } from '../options.ts';
import type { SpaceCore } from '../space/state.ts';
import { resourceLayout } from '../kernel/resources.ts';
import { bitmapWords, type RecordRegion } from './records.ts';
import { checkBound, checkKernelResources, type BoundRange, type CheckedBound, type CheckedResource, type Extent, type KernelResource } from './bound.ts';
import { PassResources } from './pass-resources.ts';
import type { DispatchOptions, Range } from './dispatch-types.ts';

export function rangePages(space: SpaceCore, ranges: readonly Range[] | undefined, what: string): Set<number> {
  const out = new Set<number>();
  if (ranges === undefined) return out;
  if (!Array.isArray(ranges)) throw new InvalidArgumentError(`dispatch ${what}: pass an array of { addr, byteLength }`);
  for (const r of ranges) space.checkRange(`dispatch ${what}`, r?.addr, r?.byteLength, true);
  for (const r of ranges) {
    if (r.byteLength === 0) continue;
    const a = space.pageOf(r.addr);
    const b = space.pageOf(r.addr + r.byteLength - 1);
    for (let p = a; p <= b; p++) out.add(p);
  }
  return out;
}

function workgroupCounts(space: SpaceCore, wg: DispatchOptions['workgroups'], label: string): [number, number, number] {
  const raw = typeof wg === 'number' ? [wg, 1, 1] : Array.isArray(wg) ? [wg[0], wg[1] ?? 1, wg[2] ?? 1] : [];
  const max = space.pool.device.limits.maxComputeWorkgroupsPerDimension;
  if (raw.length !== 3) throw new InvalidArgumentError(`dispatch "${label}": workgroups must be a number or [x, y?, z?]`);
  for (const d of raw) {
    if (typeof d !== 'number' || !Number.isInteger(d) || d < 0 || d > max) {
      throw new InvalidArgumentError(
        `dispatch "${label}": workgroup counts must be whole numbers from 0 to ${max} (maxComputeWorkgroupsPerDimension), got [${raw.join(', ')}]; ` +
          `use a 2-D or 3-D grid for more`,
      );
    }
  }
  const [x, y, z] = raw as [number, number, number];
  if (x * y * z >= 2 ** 32) {
    throw new InvalidArgumentError(`dispatch "${label}": ${x * y * z} workgroups in all; at most 2^32 - 1 (workgroup ids are u32): split the dispatch`);
  }
  return [x, y, z];
}

function checkWorkgroupSize(space: SpaceCore, kernel: Kernel): void {
  const L = space.pool.device.limits;
  const [x, y, z] = kernel.workgroupSize;
  if (x > L.maxComputeWorkgroupSizeX || y > L.maxComputeWorkgroupSizeY || z > L.maxComputeWorkgroupSizeZ || x * y * z > L.maxComputeInvocationsPerWorkgroup) {
    throw new InvalidArgumentError(
      `kernel "${kernel.label}": workgroup size [${x}, ${y}, ${z}] is over this device's limits ` +
        `(${L.maxComputeWorkgroupSizeX}, ${L.maxComputeWorkgroupSizeY}, ${L.maxComputeWorkgroupSizeZ}; ${L.maxComputeInvocationsPerWorkgroup} in all); use a smaller one`,
    );
  }
}

function argWords(args: ArrayLike<number> | undefined, label: string): Uint32Array {
  const words = new Uint32Array(MAX_KERNEL_ARGS);
  if (args === undefined) return words;
  if (args.length > MAX_KERNEL_ARGS) throw new InvalidArgumentError(`dispatch "${label}": at most ${MAX_KERNEL_ARGS} argument words, got ${args.length}`);
  if (args instanceof Uint32Array || args instanceof Int32Array || args instanceof Float32Array) {
    words.set(new Uint32Array(args.buffer, args.byteOffset, args.length));
    return words;
  }
  for (let i = 0; i < args.length; i++) {
    const v = args[i]!;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 32) {
      throw new InvalidArgumentError(
        `dispatch "${label}": args[${i}] = ${String(v)} is not a 32-bit integer; pass floats as a Float32Array`,
      );
    }
    words[i] = v >>> 0;
  }
  return words;
}

/**
 * The kernel's pipeline for declared dispatches, or (demand) the variant with
 * the demand-mode paths: for an idempotent kernel the REPLAY-only variant (no
 * overlay), which replays per invocation when it has no workgroup
 * synchronization (see replayUnit); for any other kernel the transaction variant.
 * kernel.ready(pool) compiles the same variants (src/kernel/pipelines.ts).
 */
export function compileFor(space: SpaceCore, kernel: Kernel, demand = false, total = 0, firstPass: ReplayForm | TransactionForm = false): Promise<GPUComputePipeline> {
  const pool = space.pool;
  const mode = !demand ? 'declared' : kernel.idempotent ? 'replay' : 'transaction';
  const shape = { pageShift: pool.options.pageShift, windowCount: pool.windowCount, windowSize: pool.windowSize, accessCounters: pool.options.accessCounters };
  return pipelineFor(pool.device, kernel, {
    ...variantConfig(shape, mode, replayUnit(kernel, total) === 'invocation', firstPass),
    // Spaces over 4 GiB translate 64-bit addresses, and large tables have a directory; smaller ones link
    // the u32, flat-table path that kernel.ready() compiles.
    wideAddresses: space.size > MAX_NARROW_SPACE_SIZE,
    pageTableLeafShift: space.gpt.leafShift,
  });
}

export { recordStride, replayUnit, wordPerInvocation };

/** A dispatch's arguments, checked (synchronously, at the call: nothing has changed when one is refused). */
export interface Checked {
  readonly kernel: Kernel;
  readonly demand: boolean;
  readonly grid: readonly [number, number, number];
  /** Workgroups in the grid. */
  readonly total: number;
  readonly args: Uint32Array;
  /** Declared pages, ascending: read-only ones and written ones (disjoint). */
  readonly readPages: Uint32Array;
  readonly writePages: Uint32Array;
  readonly expectNoFaults: boolean;
  /** A plain kernel's bound ranges and resources (its pages are in readPages/writePages too). */
  readonly bound?: readonly CheckedBound[];
  readonly extents?: readonly Extent[];
  readonly resources?: readonly CheckedResource[];
}

/** A dispatch's checked arguments and compiled pipeline. */
export interface Prepared extends Checked {
  /** The pipeline of the dispatch's passes; of a replay dispatch, the first pass of a slice (no completion record). */
  readonly pipeline: GPUComputePipeline;
  /** A replay dispatch's passes after a stall (they keep completion records), compiled when first needed. */
  readonly completing?: () => Promise<GPUComputePipeline>;
  /** A replay dispatch's sample of a cold slice (each workgroup's invocation 0), compiled when first needed. */
  readonly sampling?: () => Promise<GPUComputePipeline>;
  /** A transaction's variant that runs by rounds (a completion word per invocation), compiled when first needed. */
  readonly rounds?: () => Promise<GPUComputePipeline>;
  /** The kernel's own resources' bind group (group 1), when it has any. */
  readonly resourceGroup?: GPUBindGroup;
}

const DISPATCH_OPTIONS: readonly string[] = ['workgroups', 'read', 'write', 'args', 'demand', 'expectNoFaults', 'signal', 'bind', 'resources'] satisfies (keyof DispatchOptions)[];

/**
 * Check a dispatch's options, synchronously: the space's host-operation
 * ordering (address-space.ts) needs the declared pages at the moment of the
 * call, and a refused dispatch must change nothing.
 */
export function checkDispatch(space: SpaceCore, kernel: Kernel, opts: DispatchOptions): Checked {
  space.check();
  if (!opts || typeof opts !== 'object') throw new InvalidArgumentError('dispatch: pass { workgroups, read?, write?, args?, demand?, expectNoFaults?, signal? }');
  // A misspelt option (expectNoFault) would otherwise be ignored in silence, as createSpace and prefetch refuse it.
  for (const k of Object.keys(opts)) {
    if (!DISPATCH_OPTIONS.includes(k)) {
      throw new InvalidArgumentError(`dispatch "${kernel.label}": unknown dispatch option "${k}"; known options: ${DISPATCH_OPTIONS.join(', ')}`);
    }
  }
  for (const k of ['demand', 'expectNoFaults'] as const) {
    if (opts[k] !== undefined && typeof opts[k] !== 'boolean') throw new InvalidArgumentError(`dispatch "${kernel.label}": ${k} must be true or false, got ${String(opts[k])}`);
  }
  const grid = workgroupCounts(space, opts.workgroups, kernel.label);
  if (kernel.plain || opts.bind !== undefined) return checkPlain(space, kernel, opts, grid);
  const resources = checkKernelResources(kernel, opts.resources);
  checkWorkgroupSize(space, kernel);
  const args = argWords(opts.args, kernel.label);
  const writeSet = rangePages(space, opts.write, 'write');
  const readSet = rangePages(space, opts.read, 'read');
  for (const p of writeSet) readSet.delete(p);
  const total = grid[0] * grid[1] * grid[2];
  if (opts.demand === true && kernel.idempotent && total > MAX_REPLAY_WORKGROUPS) {
    throw new InvalidArgumentError(
      `dispatch "${kernel.label}": ${total} workgroups; an idempotent kernel replays with one completion bit per workgroup, ` +
        `at most ${MAX_REPLAY_WORKGROUPS}: split the dispatch, or create the kernel without idempotent (transactions have no such limit)`,
    );
  }
  return {
    kernel, demand: opts.demand === true, grid, total, args,
    readPages: Uint32Array.from(readSet).sort(), writePages: Uint32Array.from(writeSet).sort(),
    expectNoFaults: opts.expectNoFaults === true, resources,
  };
}

/** A plain kernel's dispatch: bound ranges and resources only (no prelude: no read/write ranges, args or demand paging). */
function checkPlain(space: SpaceCore, kernel: Kernel, opts: DispatchOptions, grid: [number, number, number]): Checked {
  const { bound, extents, resources } = checkBound(space, kernel, opts.bind, opts.resources);
  for (const k of ['read', 'write', 'args', 'demand'] as const) {
    if (opts[k] !== undefined && opts[k] !== false) {
      throw new InvalidArgumentError(
        `dispatch "${kernel.label}": ${k} is for prelude kernels; a plain kernel gets its data through bind ranges and its parameters through resources (a uniform buffer)` +
          (k === 'demand' ? ', and runs only over declared ranges: nothing in it can report a fault' : ''),
      );
    }
  }
  const read = new Set<number>();
  const write = new Set<number>();
  for (const b of bound) for (let p = b.first; p <= b.last; p++) (b.write ? write : read).add(p);
  return {
    kernel, demand: false, grid, total: grid[0] * grid[1] * grid[2], args: new Uint32Array(MAX_KERNEL_ARGS),
    readPages: Uint32Array.from(read).sort(), writePages: Uint32Array.from(write).sort(),
    expectNoFaults: opts.expectNoFaults === true, bound, extents, resources,
  };
}

/**
 * Where a dispatch stands in its space's issue order (address-space.ts): it
 * submits its first pass only after `after` (the dispatch issued before it has
 * submitted, so queue order runs them in issue order), and calls `submitted()`
 * once its pass is on the queue (a demand dispatch: when it has finished).
 */
export interface DispatchOrder {
  readonly after: Promise<void>;
  submitted(): void;
  /** The dispatch's `signal` (checked by the facade): where it may stop, and when it has begun. */
  readonly cancel?: Cancellation | undefined;
}

/** Compile the pipeline a checked dispatch runs (cached per device). */
export async function prepare(space: SpaceCore, checked: Checked): Promise<Prepared> {
  const { kernel, demand, total } = checked;
  const replay = demand && kernel.idempotent;
  const pipeline = await compileFor(space, kernel, demand, total, replay ? 'first' : false);
  const base = replay
    ? { ...checked, pipeline, completing: () => compileFor(space, kernel, true, total), sampling: () => compileFor(space, kernel, true, total, 'sample') }
    : demand ? { ...checked, pipeline, rounds: () => compileFor(space, kernel, true, total, 'rounds') } : { ...checked, pipeline };
  const layout = checked.kernel.resources;
  if (!layout || !checked.resources?.length) return base;
  const device = space.pool.device;
  device.pushErrorScope('validation');
  const resourceGroup = device.createBindGroup({
    label: `${space.label}:${checked.kernel.label}:resources`, layout: resourceLayout(device, layout),
    entries: checked.resources.map((r) => ({ binding: r.binding, resource: r.resource })),
  });
  const err = await device.popErrorScope();
  if (err) throw new GpuValidationError(`dispatch "${checked.kernel.label}" resources`, err.message);
  return { ...base, resourceGroup };
}

export interface PassSpec {
  readonly mode: Mode;
  /** Run linear workgroups [sliceBase, sliceEnd) of the grid. */
  readonly sliceBase: number;
  readonly sliceEnd: number;
  /** REPLAY per invocation: invocations stalled on a page still without a frame skip themselves (abi.ts skip_waiting). */
  readonly skipWaiting?: boolean;
  /** REPLAY: the first pass over invocations that have not run in this dispatch (abi.ts fresh). */
  readonly fresh?: boolean;
  /** A transaction run by rounds (abi.ts round, lost_round). */
  readonly round?: number | undefined;
  readonly lostRound?: number | undefined;
  /** The pipeline to run, when not the dispatch's own (a replay dispatch's completing passes: Prepared.completing). */
  readonly pipeline?: GPUComputePipeline | undefined;
  /** Record bytes to zero before the pass, and to copy out after it. */
  readonly clearBytes: number;
  readonly readBytes: number;
  /** More record ranges to clear before and copy out after, packed after the first `readBytes` (access counters). */
  readonly regions?: readonly RecordRegion[];
}

/** A compact launch grid for n workgroups under the per-dimension limit. */
function launchFor(space: SpaceCore, prep: Prepared, spec: PassSpec): [number, number, number] {
  const n = spec.sliceEnd - spec.sliceBase;
  if (spec.sliceBase === 0 && spec.sliceEnd === prep.total) return [...prep.grid];
  const max = space.pool.device.limits.maxComputeWorkgroupsPerDimension;
  const x = Math.min(n, max);
  const rest = Math.ceil(n / x);
  const y = Math.min(rest, max);
  return [x, y, Math.ceil(rest / y)];
}

export interface SubmittedPass {
  readonly out: GPUBuffer;
  readonly scope: Promise<GPUError | null>;
  readonly readBytes: number;
  /** The resources it used (its read-back goes back to them). */
  readonly resources: PassResources;
}

/**
 * Program the device and submit one pass: synchronous, so a caller that has
 * just checked its notifier sequence knows nothing changed before the GPU
 * sees the page table. The caller has flushed the page table.
 */
export function submitPass(space: SpaceCore, prep: Prepared, spec: PassSpec): SubmittedPass {
  const device = space.pool.device;
  const res = PassResources.of(space);
  const uniforms = uniformWords(
    { numPages: space.pageCount, mode: spec.mode, bitmapWords: bitmapWords(space.pageCount), sliceBase: spec.sliceBase, grid: prep.grid, sliceEnd: spec.sliceEnd, skipWaiting: spec.skipWaiting === true, fresh: spec.fresh === true, round: spec.round ?? 0, lostRound: spec.lostRound ?? 0 },
    prep.args,
  );
  device.queue.writeBuffer(res.uniforms, 0, uniforms);
  const out = res.takeReadback();
  const label = prep.kernel.label;
  device.pushErrorScope('validation');
  const enc = device.createCommandEncoder({ label: `${space.label}:dispatch:${label}` });
  enc.clearBuffer(res.log, 0, spec.clearBytes);
  for (const r of spec.regions ?? []) enc.clearBuffer(res.log, r.offset, r.bytes);
  const pass = enc.beginComputePass({ label: `${space.label}:${label}` });
  pass.setPipeline(spec.pipeline ?? prep.pipeline);
  pass.setBindGroup(0, res.bindGroup());
  if (prep.resourceGroup) pass.setBindGroup(1, prep.resourceGroup);
  const [x, y, z] = launchFor(space, prep, spec);
  // A zero count is valid WebGPU but Dawn warns about it; the kernel simply does not run.
  if (x * y * z > 0) pass.dispatchWorkgroups(x, y, z);
  pass.end();
  enc.copyBufferToBuffer(res.log, 0, out, 0, spec.readBytes);
  let readBytes = spec.readBytes;
  for (const r of spec.regions ?? []) {
    enc.copyBufferToBuffer(res.log, r.offset, out, readBytes, r.bytes);
    readBytes += r.bytes;
  }
  device.queue.submit([enc.finish()]);
  space.pool.transfer.noteCompute();
  return { out, scope: device.popErrorScope(), readBytes, resources: res };
}

/** Wait for a submitted pass and return its record. */
export async function readPass(space: SpaceCore, label: string, sub: SubmittedPass): Promise<Uint32Array> {
  const err = await sub.scope;
  if (err) {
    sub.resources.recycleReadback(sub.out);
    throw new GpuValidationError(`dispatch "${label}"`, err.message);
  }
  try {
    space.pool.counters.roundTrips++;
    await sub.out.mapAsync(MapMode.READ, 0, sub.readBytes);
  } catch (e) {
    sub.out.destroy();
    space.check();
    throw e;
  }
  const rec = new Uint32Array(sub.out.getMappedRange(0, sub.readBytes).slice(0));
  sub.out.unmap();
  sub.resources.recycleReadback(sub.out);
  return rec;
}
