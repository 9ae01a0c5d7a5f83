// The main demo's run: out-of-core streaming. Shared by demos/node/stream-reduce.ts
// (npm run demo), stream.html and the tests.
//
// A data set several times larger than the device pool lives in one virtual
// address space. Pass 1 transforms it in place on the GPU (x = x * 3 + i),
// chunk by chunk: the pool fills, and dirty pages are written back as they are
// evicted. Pass 2 reduces it (a wrapping u32 sum and an xor, exact in any
// order): clean pages are dropped without a copy. The host checks both against
// a CPU computation, and spot-checks the data after reading it all back.
//
// Dispatch modes: 'declared' names each chunk's range (no replay, nothing
// faulted); 'transaction' declares nothing and lets the kernels fault the
// pages in (demand mode; both kernels update memory in place or with
// atomics, so they are not idempotent and run as transactions: probe passes,
// a snapshot of the write set, a commit). Replay mode does not apply: an
// in-place update replayed would apply twice.

import { createKernel, type PoolStats } from '../../src/index.ts';
import { fmtBytes, fmtMiB, fmtMs } from './format.ts';
import { phase, withPoolAndSpace, type DemoHooks, type DemoOutcome, type PoolChoice } from './hooks.ts';

const MiB = 1024 * 1024;
export const WG = 256;

export type StreamMode = 'declared' | 'transaction';
export const STREAM_MODES: readonly StreamMode[] = ['declared', 'transaction'];

export interface StreamOptions extends PoolChoice {
  readonly dataBytes: number;
  /** Bytes per dispatch (a multiple of 4). */
  readonly chunkBytes: number;
  readonly mode: StreamMode;
}

/** The page's defaults: a few seconds on SwiftShader. The Node demo's are 256 / 64 MiB. */
export const STREAM_DEFAULTS: StreamOptions = {
  dataBytes: 16 * MiB, poolBytes: 4 * MiB, pageSize: 64 * 1024, chunkBytes: 1 * MiB, mode: 'declared', uploadPath: 'auto',
};

export interface PhaseFigures {
  readonly name: string;
  readonly ms: number;
  readonly pagesToDevice: number;
  readonly pagesToHost: number;
  readonly bytesToDevice: number;
  readonly bytesToHost: number;
  readonly evictions: number;
  readonly writebacks: number;
  readonly drops: number;
}

export interface StreamOutcome extends DemoOutcome {
  readonly sum: { readonly gpu: number; readonly cpu: number };
  readonly xor: { readonly gpu: number; readonly cpu: number };
  readonly samples: number;
  readonly badSamples: number;
  readonly phases: readonly PhaseFigures[];
  /** Filling the data (and the CPU reference) in JS, ms. */
  readonly fillMs: number;
  /** Compiling the two kernels, ms. */
  readonly compileMs: number;
}

const transform = createKernel({
  label: 'transform',
  workgroupSize: WG,
  code: /* wgsl */ `
// args: base address, first element index, element count
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x + inv.global_id.y * inv.num_workgroups.x * ${WG}u;
  if (i >= vm_arg_u32(2u)) { return; }
  let a = vm_arg_u32(0u) + i * 4u;
  vm_store_u32(a, vm_load_u32(a) * 3u + vm_arg_u32(1u) + i);
}`,
});

/** Elements each reduce invocation sums before the workgroup combines them (fewer workgroups, fewer barriers). */
export const PER_INVOCATION = 16;

/** Sum and xor of a range of u32s into two accumulators (the stream and file demos' reduction). */
export const reduce = createKernel({
  label: 'reduce',
  workgroupSize: WG,
  code: /* wgsl */ `
var<workgroup> sums: array<u32, ${WG}>;
var<workgroup> xors: array<u32, ${WG}>;
// args: base address, element count, address of the two accumulators.
// Workgroup w sums elements [w * ${WG * PER_INVOCATION}, (w + 1) * ${WG * PER_INVOCATION}), invocation l those ≡ l mod ${WG}.
fn kernel(inv: VmInvocation) {
  let w = inv.workgroup_id.x + inv.workgroup_id.y * inv.num_workgroups.x;
  let n = vm_arg_u32(1u);
  var s = 0u;
  var x = 0u;
  for (var k = 0u; k < ${PER_INVOCATION}u; k++) {
    let i = w * ${WG * PER_INVOCATION}u + k * ${WG}u + inv.local_index;
    if (i < n) {
      let v = vm_load_u32(vm_arg_u32(0u) + i * 4u);
      s += v;
      x ^= v;
    }
  }
  sums[inv.local_index] = s;
  xors[inv.local_index] = x;
  workgroupBarrier();
  for (var h = ${WG / 2}u; h > 0u; h = h >> 1u) {
    if (inv.local_index < h) {
      sums[inv.local_index] += sums[inv.local_index + h];
      xors[inv.local_index] ^= xors[inv.local_index + h];
    }
    workgroupBarrier();
  }
  if (inv.local_index == 0u) {
    vm_atomic_add_u32(vm_arg_u32(2u), sums[0]);
    vm_atomic_xor_u32(vm_arg_u32(2u) + 4u, xors[0]);
  }
}`,
});

export function grid(elements: number): [number, number] {
  const groups = Math.ceil(elements / WG);
  const x = Math.min(groups, 32768);
  return [x, Math.ceil(groups / x)];
}

/** [offset, length] of each chunk of the data set. */
function chunks(total: number, chunk: number): [number, number][] {
  const out: [number, number][] = [];
  for (let off = 0; off < total; off += chunk) out.push([off, Math.min(chunk, total - off)]);
  return out;
}

/** The data set's initial value at element i. */
function initial(i: number): number {
  return (Math.imul(i, 2654435761) ^ (i >>> 7)) >>> 0;
}

function figures(name: string, ms: number, a: PoolStats, b: PoolStats): PhaseFigures {
  return {
    name, ms,
    pagesToDevice: b.pagesToDevice - a.pagesToDevice,
    pagesToHost: b.pagesToHost - a.pagesToHost,
    bytesToDevice: b.bytesToDevice - a.bytesToDevice,
    bytesToHost: b.bytesToHost - a.bytesToHost,
    evictions: b.evictions - a.evictions,
    writebacks: b.evictionWritebacks - a.evictionWritebacks,
    drops: b.evictionDrops - a.evictionDrops,
  };
}

function check(o: StreamOptions): void {
  if (!(o.dataBytes > 0) || o.dataBytes % 4 !== 0) throw new Error(`data: ${o.dataBytes} bytes is not a positive multiple of 4`);
  if (!(o.chunkBytes > 0) || o.chunkBytes % 4 !== 0) throw new Error(`chunk: ${o.chunkBytes} bytes is not a positive multiple of 4`);
  if (!STREAM_MODES.includes(o.mode)) throw new Error(`mode: "${o.mode}" is not one of ${STREAM_MODES.join(', ')}`);
}

export async function runStreamDemo(device: GPUDevice, o: StreamOptions, hooks: DemoHooks = {}): Promise<StreamOutcome> {
  check(o);
  const log = (line: string) => hooks.log?.(line);
  const { dataBytes, chunkBytes, pageSize } = o;
  const n = dataBytes / 4;
  const start = performance.now();
  return withPoolAndSpace(device, o, { size: dataBytes + 2 * pageSize, label: 'stream' }, hooks, async (space, pool) => {
    const base = space.alloc(dataBytes, { align: pageSize, label: 'data' });
    const acc = space.alloc(8, { label: 'sum+xor' });
    const ratio = dataBytes / pool.capacity;
    log(`data ${fmtBytes(dataBytes)} in a ${fmtBytes(space.size)} space; device pool ${fmtBytes(pool.capacity)} ` +
      `(${ratio.toFixed(1)}× oversubscribed), pages ${fmtBytes(pageSize)}, ${pool.windowCount} window(s); ` +
      `${o.mode} dispatches of ${fmtBytes(chunkBytes)}, upload path ${o.uploadPath}`);

    // Fill from JS straight into the space's host memory, and compute the CPU reference alongside.
    const fillDone = phase(hooks, 'fill', 1);
    let t = performance.now();
    let refSum = 0;
    let refXor = 0;
    await space.withView(base, dataBytes, 'write', (view) => {
      const w = new Uint32Array(view.buffer, view.byteOffset, n);
      const chunkEl = chunkBytes / 4;
      for (let i = 0; i < n; i++) {
        const x = initial(i);
        w[i] = x;
        const local = i % chunkEl;
        const y = (Math.imul(x, 3) + (i - local) + local) >>> 0;
        refSum = (refSum + y) >>> 0;
        refXor = (refXor ^ y) >>> 0;
      }
    });
    const fillMs = performance.now() - t;
    fillDone(1);

    const list = chunks(dataBytes, chunkBytes);
    const demand = o.mode === 'transaction';
    // Compile both kernels first, so that the phases' times are the runs' (a first compile can take seconds on a CPU device).
    const compileDone = phase(hooks, 'compile', 1);
    t = performance.now();
    await Promise.all([space.compile(transform, { demand }), space.compile(reduce, { demand })]);
    const compileMs = performance.now() - t;
    compileDone(1);
    const s0 = pool.stats();
    t = performance.now();
    let step = phase(hooks, 'transform', list.length);
    for (const [k, [off, len]] of list.entries()) {
      await space.dispatch(transform, {
        workgroups: grid(len / 4), args: [base + off, off / 4, len / 4],
        ...(demand ? { demand: true } : { write: [{ addr: base + off, byteLength: len }] }),
      });
      step(k + 1);
    }
    const tTransform = performance.now() - t;
    const s1 = pool.stats();
    t = performance.now();
    step = phase(hooks, 'reduce', list.length);
    for (const [k, [off, len]] of list.entries()) {
      await space.dispatch(reduce, {
        workgroups: grid(len / 4 / PER_INVOCATION), args: [base + off, len / 4, acc],
        ...(demand ? { demand: true } : { read: [{ addr: base + off, byteLength: len }], write: [{ addr: acc, byteLength: 8 }] }),
      });
      step(k + 1);
    }
    const tReduce = performance.now() - t;
    const s2 = pool.stats();
    const out = new Uint32Array((await space.read(acc, 8)).buffer);
    // Spot-check the transformed data itself against the CPU formula (this brings dirty pages home).
    const readDone = phase(hooks, 'read back', 1);
    t = performance.now();
    const data = new Uint32Array((await space.read(base, dataBytes)).buffer);
    const tRead = performance.now() - t;
    readDone(1);
    const s3 = pool.stats();
    let bad = 0;
    let samples = 0;
    for (let i = 0; i < n; i += 997) {
      samples++;
      if (data[i] !== ((Math.imul(initial(i), 3) + i) >>> 0)) bad++;
    }
    const sum = { gpu: out[0]!, cpu: refSum };
    const xor = { gpu: out[1]!, cpu: refXor };
    const ok = sum.gpu === sum.cpu && xor.gpu === xor.cpu && bad === 0;
    space.checkInvariants();

    const phases = [
      figures('transform (write)', tTransform, s0, s1),
      figures('reduce (read)', tReduce, s1, s2),
      figures('read back', tRead, s2, s3),
    ];
    log(`fill (JS) ${fmtMs(fillMs)}; compile ${fmtMs(compileMs)}; transform ${fmtMs(tTransform)}, reduce ${fmtMs(tReduce)}, read back ${fmtMs(tRead)}; ${s3.dispatches} dispatches`);
    log(`sum   GPU ${sum.gpu}  CPU ${sum.cpu}`);
    log(`xor   GPU ${xor.gpu}  CPU ${xor.cpu}`);
    log(`data spot-check: ${samples - bad}/${samples} samples exact`);
    return {
      ok, sum, xor, samples, badSamples: bad, phases, fillMs, compileMs, ms: performance.now() - start, stats: s3, dataBytes, ratio,
      summary: ok
        ? `ok: sum and xor of ${fmtMiB(dataBytes)} MiB verified against the CPU, ${samples} samples exact; data ${ratio.toFixed(1)}× the pool`
        : `FAILED: sum ${sum.gpu} vs ${sum.cpu}, xor ${xor.gpu} vs ${xor.cpu}, ${bad}/${samples} samples wrong`,
    };
  });
}
