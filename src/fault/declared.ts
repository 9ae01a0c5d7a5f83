// Declared-range faulting: the runtime's `hmm_range_fault`. A dispatch names
// the ranges it reads and writes; before it is submitted every page of those
// ranges is made resident, the device page table is brought up to date with
// READ/WRITE granted exactly on those pages, and written pages are marked
// device-dirty. Nothing is replayed: an access outside the ranges is refused
// by the prelude and reported as a violation.
//
// The fault-in follows HMM's driver loop:
//
//   lock pool
//   again:
//     seq = sub.readBegin()            sub watches the dispatch's whole range
//     makeResident(pages)              may await (eviction write-back, staging)
//     if sub.readRetry(seq) → again    a host write dropped a page meanwhile
//   program the device: grant PTEs, flush the table, write the uniforms,
//   encode, submit                     — synchronous: no await after the check
//   mark written pages Device
//   unlock; await completion; read the violation log

import { assert } from '../assert.ts';
import { AccessViolationError, GpuValidationError, InvalidArgumentError, WorkingSetTooLargeError, type Violation, type ViolationKind } from '../errors.ts';
import { MapMode } from '../gpu/constants.ts';
import type { Kernel } from '../kernel/kernel.ts';
import { pipelineFor } from '../kernel/pipelines.ts';
import { emptyReport, makeResident, type MigrationReport } from '../migrate/migrate.ts';
import { MAX_KERNEL_ARGS, VIOLATION_LOG_ENTRIES } from '../options.ts';
import { LOG_BYTES, type SpaceCore } from '../space/core.ts';
import { PageState } from '../space/page-table.ts';

export interface Range {
  readonly addr: number;
  readonly byteLength: number;
}

export interface DispatchOptions {
  /** Workgroup counts: x or [x, y, z]. */
  workgroups: number | readonly [number, number?, number?];
  /** Ranges the kernel reads (and does not write). */
  read?: readonly Range[];
  /** Ranges the kernel writes (it may read them too). */
  write?: readonly Range[];
  /** Up to 64 u32 words, read in WGSL with vm_arg_u32(i) / vm_arg_i32 / vm_arg_f32. */
  args?: ArrayLike<number>;
}

export interface DispatchResult {
  /** Pages copied host → device before the dispatch. */
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
}

const KIND: Record<number, ViolationKind> = { 1: 'out-of-range', 2: 'not-readable', 3: 'not-writable', 4: 'misaligned' };

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
  return raw as [number, number, number];
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

function linkConfig(space: SpaceCore) {
  const pool = space.pool;
  return {
    pageShift: pool.options.pageShift,
    windowCount: pool.windowCount,
    windowWordShift: Math.log2(pool.windowSize) - 2,
    logEntries: VIOLATION_LOG_ENTRIES,
  };
}

export function compileFor(space: SpaceCore, kernel: Kernel): Promise<GPUComputePipeline> {
  return pipelineFor(space.pool.device, kernel, linkConfig(space));
}

export async function dispatchDeclared(space: SpaceCore, kernel: Kernel, opts: DispatchOptions): Promise<DispatchResult> {
  const t0 = performance.now();
  space.check();
  if (!opts || typeof opts !== 'object') throw new InvalidArgumentError('dispatch: pass { workgroups, read?, write?, args? }');
  const counts = workgroupCounts(space, opts.workgroups, kernel.label);
  checkWorkgroupSize(space, kernel);
  const args = argWords(opts.args, kernel.label);
  const writeSet = rangePages(space, opts.write, 'write');
  const readSet = rangePages(space, opts.read, 'read');
  for (const p of writeSet) readSet.delete(p);
  const wPages = Uint32Array.from(writeSet).sort();
  const rPages = Uint32Array.from(readSet).sort();
  const all = Uint32Array.from([...rPages, ...wPages]).sort();
  const pipeline = await compileFor(space, kernel);
  const pool = space.pool;
  const device = pool.device;
  const ps = space.pageSize;
  const report: MigrationReport = emptyReport();
  let retries = 0;

  const readback = await pool.withLock(async () => {
    space.check();
    // Fail fast when the ranges cannot fit even after evicting everything unpinned.
    let pinnedInside = 0;
    for (const p of all) if (space.table.pins[p]! > 0) pinnedInside++;
    const available = pool.frameCount - (pool.pinnedPages - pinnedInside);
    if (all.length > available) {
      throw new WorkingSetTooLargeError(all.length * ps, available * ps, pool.capacity, pool.pinnedPages * ps);
    }
    const sub = all.length ? space.notifier.subscribe(all[0]! * ps, (all[all.length - 1]! + 1) * ps) : undefined;
    try {
      for (;;) {
        const seq = sub?.readBegin() ?? 0;
        await makeResident(space, all, report);
        space.check();
        if (!sub?.readRetry(seq)) break;
        retries++;
      }
      // ---- program the device: synchronous from here to submit ----
      const t = space.table;
      for (const p of all) {
        assert(t.isResident(p), `page ${p} not resident after fault-in`);
        pool.frames.referenced[t.frame[p]!] = 1;
      }
      space.gpt.grant(rPages, wPages);
      space.gpt.flush(device.queue);
      const header = new Uint32Array([space.pageCount, 0, 0, 0]);
      device.queue.writeBuffer(space.uniforms, 0, header);
      device.queue.writeBuffer(space.uniforms, 16, args);
      const out = space.takeLogReadback();
      device.pushErrorScope('validation');
      const enc = device.createCommandEncoder({ label: `${space.label}:dispatch:${kernel.label}` });
      enc.clearBuffer(space.log);
      const pass = enc.beginComputePass({ label: `${space.label}:${kernel.label}` });
      pass.setPipeline(pipeline);
      pass.setBindGroup(0, space.bindGroup());
      // A zero count is valid WebGPU but Dawn warns about it; the kernel simply does not run.
      if (counts[0] * counts[1] * counts[2] > 0) pass.dispatchWorkgroups(counts[0], counts[1], counts[2]);
      pass.end();
      enc.copyBufferToBuffer(space.log, 0, out, 0, LOG_BYTES);
      device.queue.submit([enc.finish()]);
      const scope = device.popErrorScope();
      for (const p of wPages) t.state[p] = PageState.Device;
      pool.counters.dispatches++;
      return { out, scope };
    } finally {
      sub?.remove();
    }
  });

  const err = await readback.scope;
  if (err) {
    space.recycleLogReadback(readback.out);
    throw new GpuValidationError(`dispatch "${kernel.label}"`, err.message);
  }
  try {
    await readback.out.mapAsync(MapMode.READ);
  } catch (e) {
    readback.out.destroy();
    space.check();
    throw e;
  }
  const log = new Uint32Array(readback.out.getMappedRange().slice(0));
  readback.out.unmap();
  space.recycleLogReadback(readback.out);
  const count = log[0]!;
  if (count > 0) {
    const vs: Violation[] = [];
    for (let i = 0; i < Math.min(count, VIOLATION_LOG_ENTRIES); i++) {
      const b = 4 + i * 8;
      vs.push({ addr: log[b]!, kind: KIND[log[b + 1]!] ?? 'out-of-range', invocation: [log[b + 2]!, log[b + 3]!, log[b + 4]!] });
    }
    throw new AccessViolationError(kernel.label, vs, count);
  }
  return { ...report, retries, ms: performance.now() - t0 };
}
