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
import { pipelineFor } from '../kernel/pipelines.ts';
import { MAX_NARROW_SPACE_SIZE, MAX_REPLAY_INVOCATIONS, MAX_REPLAY_WORKGROUPS } from '../options.ts';
import type { SpaceCore } from '../space/core.ts';
import { bitmapWords, type RecordRegion } from './records.ts';
import { PassResources } from './pass-resources.ts';

export interface Range {
  readonly addr: number;
  readonly byteLength: number;
}

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
   * predicted them (a stream: src/policy/slice-prediction.ts), when the pool had room.
   */
  readonly pagesPredicted: number;
  /** Pages written back to the host as the snapshot before a commit. */
  readonly snapshotPages: number;
  /** Pages restored from the snapshot after an aborted commit. */
  readonly restoredPages: number;
}

export interface DispatchResult {
  /** 'declared' ranges; demand paging as a 'transaction' (any kernel) or by 'replay' (idempotent kernels). */
  readonly mode: 'declared' | 'transaction' | 'replay';
  /** Pages copied host → device for this dispatch. */
  readonly pagesUploaded: number;
  /** Unpopulated pages given a zeroed frame. */
  readonly pagesCleared: number;
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
}

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

function linkConfig(space: SpaceCore, demand: boolean, replay: boolean, replayPerInvocation: boolean) {
  const pool = space.pool;
  return {
    replay,
    replayPerInvocation,
    pageShift: pool.options.pageShift,
    windowCount: pool.windowCount,
    windowWordShift: Math.log2(pool.windowSize) - 2,
    demand,
    // Demand passes record the bitmaps for their protocol; the constant only shapes the declared path.
    accessCounters: !demand && pool.options.accessCounters,
    // Spaces over 4 GiB translate 64-bit addresses; smaller ones link today's u32 path.
    wideAddresses: space.size > MAX_NARROW_SPACE_SIZE,
    pageTableLeafShift: space.gpt.leafShift,
  };
}

/**
 * The kernel's pipeline for declared dispatches, or (demand) the variant with
 * the demand-mode paths: for an idempotent kernel the REPLAY-only variant (no
 * overlay), which replays per invocation when it has no workgroup
 * synchronization (see replayUnit); for any other kernel the transaction variant.
 */
export function compileFor(space: SpaceCore, kernel: Kernel, demand = false, total = 0): Promise<GPUComputePipeline> {
  const replay = demand && kernel.idempotent;
  return pipelineFor(space.pool.device, kernel, linkConfig(space, demand, replay, replay && replayUnit(kernel, total) === 'invocation'));
}

/**
 * How a demand dispatch of `total` workgroups of an idempotent kernel tracks
 * completion: per invocation when the kernel never synchronizes a workgroup
 * and the bits fit (MAX_REPLAY_INVOCATIONS), else per workgroup.
 */
export function replayUnit(kernel: Kernel, total: number): 'invocation' | 'workgroup' {
  const [x, y, z] = kernel.workgroupSize;
  return kernel.idempotent && !kernel.workgroupSync && total * x * y * z <= MAX_REPLAY_INVOCATIONS ? 'invocation' : 'workgroup';
}

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
}

/** A dispatch's checked arguments and compiled pipeline. */
export interface Prepared extends Checked {
  readonly pipeline: GPUComputePipeline;
}

const DISPATCH_OPTIONS: readonly string[] = ['workgroups', 'read', 'write', 'args', 'demand', 'expectNoFaults', 'signal'] satisfies (keyof DispatchOptions)[];

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
    expectNoFaults: opts.expectNoFaults === true,
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
  const pipeline = await compileFor(space, checked.kernel, checked.demand, checked.total);
  return { ...checked, pipeline };
}

export interface PassSpec {
  readonly mode: Mode;
  /** Run linear workgroups [sliceBase, sliceEnd) of the grid. */
  readonly sliceBase: number;
  readonly sliceEnd: number;
  /** REPLAY per invocation: invocations stalled on a page still without a frame skip themselves (abi.ts skip_waiting). */
  readonly skipWaiting?: boolean;
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
    { numPages: space.pageCount, mode: spec.mode, bitmapWords: bitmapWords(space.pageCount), sliceBase: spec.sliceBase, grid: prep.grid, sliceEnd: spec.sliceEnd, skipWaiting: spec.skipWaiting === true },
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
  pass.setPipeline(prep.pipeline);
  pass.setBindGroup(0, res.bindGroup());
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
