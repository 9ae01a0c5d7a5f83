// The oversubscription curve (issue 21), after NVIDIA's "Improving GPU Memory
// Oversubscription Performance": a kernel that reads every word of a data set
// once and checks it, over data sets of 0.5–3× the pool, in three access
// patterns, each way a user could run it:
//
//   patterns  grid-stride    invocation t reads words t, t + T, t + 2T, … (T = invocations)
//             block-random   workgroup w reads 64 KiB block perm[w] (a random permutation)
//             random-warp    workgroup w reads the 256 bytes of chunk perm[w] (random)
//   modes     resident       the same dispatch with the data resident (a pool that holds it):
//                            the reference every other figure is relative to
//             demand         one demand-paged dispatch from cold, no hint, of a kernel
//                            dispatched the same way before (each run: the runtime
//                            starts from the footprint of the last, src/fault/demand.ts)
//             first          the same as a kernel's first dispatch on the space (a new
//                            kernel object of the same code each run: nothing known)
//             demand+hints   the same with the data range as a read hint
//             declared       the same kernel in declared chunks of at most ¼ pool: runs of
//                            workgroups, each dispatch declaring exactly the pages its
//                            workgroups read (the host knows the pattern and the
//                            permutation) — what a careful user writes by hand instead of
//                            demand paging
//
// Each cell: bandwidth relative to resident (data bytes per second over the
// resident pass's), bytes moved to the device per data byte, passes and slices
// of the demand dispatch; every read is checked (a mismatch fails the run).
// The kernel is idempotent (it stores only a flag on a mismatch), so demand
// dispatches replay it.

import { createKernel, createPool, createSpace, type AddressSpace, type Kernel, type KernelDescriptor, type Pool } from '../src/index.ts';
import { interleave, KiB, MiB, timeGpu, xorshift32, type BenchContext, type CaseResult } from './lib.ts';

export type Pattern = 'grid-stride' | 'block-random' | 'random-warp';
export type Mode = 'resident' | 'demand' | 'first' | 'demand+hints' | 'declared';
export const PATTERNS: readonly Pattern[] = ['grid-stride', 'block-random', 'random-warp'];

const PAGE = 64 * KiB;
/** Words each invocation reads in the grid-stride pattern. */
const ITERS = 8;
const BLOCK_WORDS = (64 * KiB) / 4;
const CHUNK_WORDS = 256 / 4;

/** The expected word at index i (a hash the kernel recomputes). */
const expected = (i: number): number => (Math.imul(i ^ 0x5bd1e995, 0x9e3779b1) ^ (i >>> 7)) >>> 0;
const WGSL_EXPECTED = 'fn expected(i: u32) -> u32 { return ((i ^ 0x5bd1e995u) * 0x9e3779b1u) ^ (i >> 7u); }';

// args: [data, words, perm, err, workgroups, first workgroup, invocations]: a dispatch may run workgroups
// [first, first + launched) of the whole grid (declared chunks do), and the 2-D grid may launch more
// workgroups than there are blocks or chunks.
const descriptors: Record<Pattern, KernelDescriptor> = {
  'grid-stride': {
    label: 'curve:grid-stride', workgroupSize: 64, idempotent: true,
    code: `${WGSL_EXPECTED}
fn kernel(inv: VmInvocation) {
  let total = vm_arg_u32(6u);
  let t = vm_arg_u32(5u) * 64u + inv.global_id.x + inv.global_id.y * inv.num_workgroups.x * 64u;
  let n = vm_arg_u32(1u);
  if (t >= total) { return; }
  for (var k = 0u; k < ${ITERS}u; k++) {
    let i = t + k * total;
    if (i >= n) { break; }
    if (vm_load_u32(vm_arg_u32(0u) + i * 4u) != expected(i)) { vm_store_u32(vm_arg_u32(3u), 1u); }
  }
}`,
  },
  'block-random': {
    label: 'curve:block-random', workgroupSize: 64, idempotent: true,
    code: `${WGSL_EXPECTED}
fn kernel(inv: VmInvocation) {
  let w = vm_arg_u32(5u) + inv.workgroup_id.x + inv.workgroup_id.y * inv.num_workgroups.x;
  if (w >= vm_arg_u32(4u)) { return; }
  let b = vm_load_u32(vm_arg_u32(2u) + w * 4u);
  for (var k = 0u; k < ${BLOCK_WORDS / 64}u; k++) {
    let i = b * ${BLOCK_WORDS}u + k * 64u + inv.local_index;
    if (vm_load_u32(vm_arg_u32(0u) + i * 4u) != expected(i)) { vm_store_u32(vm_arg_u32(3u), 1u); }
  }
}`,
  },
  'random-warp': {
    label: 'curve:random-warp', workgroupSize: 64, idempotent: true,
    code: `${WGSL_EXPECTED}
fn kernel(inv: VmInvocation) {
  let w = vm_arg_u32(5u) + inv.workgroup_id.x + inv.workgroup_id.y * inv.num_workgroups.x;
  if (w >= vm_arg_u32(4u)) { return; }
  let c = vm_load_u32(vm_arg_u32(2u) + w * 4u);
  let i = c * ${CHUNK_WORDS}u + inv.local_index;
  if (vm_load_u32(vm_arg_u32(0u) + i * 4u) != expected(i)) { vm_store_u32(vm_arg_u32(3u), 1u); }
}`,
  },
};
const kernels = Object.fromEntries(Object.entries(descriptors).map(([p, d]) => [p, createKernel(d)])) as Record<Pattern, Kernel>;

function grid(workgroups: number): [number, number] {
  const x = Math.min(workgroups, 65535);
  return [x, Math.ceil(workgroups / x)];
}

function permutation(n: number, seed: number): Uint32Array {
  const p = Uint32Array.from({ length: n }, (_, i) => i);
  const next = xorshift32(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = next() % (i + 1);
    [p[i], p[j]] = [p[j]!, p[i]!];
  }
  return p;
}

type DemandMode = 'demand' | 'first' | 'demand+hints';

export interface Cell {
  readonly pattern: Pattern;
  readonly factor: number;
  /** Data bytes per second over the resident pass's. */
  readonly bandwidth: Record<Mode, number>;
  /** Bytes uploaded per data byte, per mode. */
  readonly bytesPerByte: Record<Mode, number>;
  readonly passes: Record<DemandMode, number>;
  readonly slices: Record<DemandMode, number>;
  readonly ms: Record<Mode, number>;
}

/** One pattern at one factor: every mode, interleaved. */
export async function measureCell(ctx: BenchContext, poolBytes: number, pattern: Pattern, factor: number): Promise<Cell> {
  const { device } = ctx;
  const dataBytes = Math.ceil((factor * poolBytes) / PAGE) * PAGE;
  const words = dataBytes / 4;
  const permWords = pattern === 'block-random' ? dataBytes / (64 * KiB) : pattern === 'random-warp' ? words / CHUNK_WORDS : 1;
  const spaceBytes = dataBytes + Math.ceil((permWords * 4 + 4) / PAGE + 1) * PAGE;
  // Two pools: the measured one, and one that holds everything (the resident reference).
  const pool = await createPool(device, { capacity: poolBytes, pageSize: PAGE, label: 'curve' });
  const big = await createPool(device, { capacity: Math.min(spaceBytes + PAGE, 1024 * MiB), pageSize: PAGE, label: 'curve-big' });
  const make = (p: Pool): { space: AddressSpace; data: number; perm: number; err: number } => {
    const space = createSpace(p, { size: spaceBytes, label: `curve-${pattern}` });
    const data = space.alloc(dataBytes, { align: PAGE, label: 'data' });
    const perm = space.alloc(permWords * 4, { align: PAGE, label: 'perm' });
    const err = space.alloc(4, { label: 'err' });
    return { space, data, perm, err };
  };
  const a = make(pool);
  const r = make(big);
  const values = new Uint32Array(words).map((_, i) => expected(i));
  const perm = permutation(permWords, 0xc0ffee ^ permWords);
  for (const s of [a, r]) {
    await s.space.write(s.data, values);
    await s.space.write(s.perm, perm);
  }
  const invocations = pattern === 'grid-stride' ? Math.ceil(words / ITERS) : permWords * 64;
  const workgroups = Math.ceil(invocations / 64);
  const wg = grid(workgroups);
  const argsOf = (s: typeof a, first = 0) => [s.data, words, s.perm, s.err, workgroups, first, invocations];
  const kernel = kernels[pattern];
  const stats = { passes: { demand: 0, first: 0, 'demand+hints': 0 }, slices: { demand: 0, first: 0, 'demand+hints': 0 } };
  const moved: Record<Mode, number> = { resident: 0, demand: 0, first: 0, 'demand+hints': 0, declared: 0 };
  const up = (p: Pool) => p.stats().bytesToDevice;
  const measured = (mode: Mode, p: Pool, fn: () => Promise<unknown>) => async () => {
    const b0 = up(p);
    const ms = await timeGpu(device, fn);
    moved[mode] = (up(p) - b0) / dataBytes;
    return ms;
  };
  const demandRun = (mode: DemandMode) => async () => {
    // 'first': a new kernel object (its pipelines are the compiled ones: the cache goes by code).
    const k = mode === 'first' ? createKernel(descriptors[pattern]) : kernel;
    return measured(mode, pool, () => run(mode, k))();
  };
  const run = async (mode: DemandMode, k: Kernel) => {
    const res = await a.space.dispatch(k, {
      workgroups: wg, args: argsOf(a), demand: true, ...(mode === 'demand+hints' ? { read: [{ addr: a.data, byteLength: dataBytes }] } : {}),
    });
    stats.passes[mode] = res.demand!.passes;
    stats.slices[mode] = res.demand!.slices;
  };
  // Declared chunks: consecutive workgroups while the data pages they read (the host computes them from
  // the pattern and the permutation) stay within a quarter of the pool; each dispatch declares exactly those.
  const pagesOfWorkgroup = (w: number): number[] => {
    const wordPage = (i: number) => Math.floor((i * 4) / PAGE);
    if (pattern === 'grid-stride') {
      const out = new Set<number>();
      for (let k = 0; k < ITERS; k++) {
        const i0 = w * 64 + k * invocations;
        if (i0 >= words) break;
        out.add(wordPage(i0)).add(wordPage(Math.min(words - 1, i0 + 63)));
      }
      return [...out];
    }
    return [pattern === 'block-random' ? (perm[w]! * BLOCK_WORDS * 4) / PAGE : wordPage(perm[w]! * CHUNK_WORDS)];
  };
  const quarter = poolBytes / PAGE / 4;
  const chunks: { first: number; count: number; pages: number[] }[] = [];
  for (let w = 0; w < workgroups;) {
    const pages = new Set<number>();
    let count = 0;
    while (w + count < workgroups) {
      const add = pagesOfWorkgroup(w + count).filter((p) => !pages.has(p));
      if (count > 0 && pages.size + add.length > quarter) break;
      for (const p of add) pages.add(p);
      count++;
    }
    chunks.push({ first: w, count, pages: [...pages].sort((x, y) => x - y) });
    w += count;
  }
  const ranges = (pages: number[]) => {
    const out: { addr: number; byteLength: number }[] = [];
    for (const p of pages) {
      const last = out[out.length - 1];
      if (last && last.addr + last.byteLength === a.data + p * PAGE) last.byteLength += PAGE;
      else out.push({ addr: a.data + p * PAGE, byteLength: PAGE });
    }
    return out;
  };
  const declaredRun = measured('declared', pool, async () => {
    for (const c of chunks) {
      await a.space.dispatch(kernel, {
        workgroups: grid(c.count), args: argsOf(a, c.first),
        read: [...ranges(c.pages), { addr: a.perm, byteLength: permWords * 4 }], write: [{ addr: a.err, byteLength: 4 }],
      });
    }
  });
  const t = await interleave(ctx, {
    resident: measured('resident', big, () => r.space.dispatch(kernel, { workgroups: wg, args: argsOf(r), read: [{ addr: r.data, byteLength: dataBytes }, { addr: r.perm, byteLength: permWords * 4 }], write: [{ addr: r.err, byteLength: 4 }] })),
    demand: demandRun('demand'),
    first: demandRun('first'),
    'demand+hints': demandRun('demand+hints'),
    declared: declaredRun,
  }, async (k) => {
    // Cold again: the data (and table) home and off the device.
    if (k !== 'resident') await a.space.prefetch(0, spaceBytes, { to: 'host' });
  });
  for (const s of [a, r]) {
    const e = new Uint32Array((await s.space.read(s.err, 4)).buffer)[0];
    if (e !== 0) throw new Error(`demand curve ${pattern} ×${factor}: a read was wrong`);
  }
  for (const s of [a, r]) s.space.destroy();
  pool.destroy();
  big.destroy();
  const modes: Mode[] = ['resident', 'demand', 'first', 'demand+hints', 'declared'];
  return {
    pattern, factor,
    bandwidth: Object.fromEntries(modes.map((m) => [m, t.resident / t[m]])) as Record<Mode, number>,
    bytesPerByte: moved, passes: stats.passes, slices: stats.slices, ms: t,
  };
}

/** The bench case: the curve, and its key figure — the demand dispatch's bandwidth over declared chunks'. */
export function curveCase(): { key: string; title: string; run(ctx: BenchContext): Promise<CaseResult> } {
  return {
    key: 'demand-curve',
    title: 'oversubscription curve: one demand dispatch vs declared chunks',
    async run(ctx) {
      const poolBytes = 16 * MiB;
      const factors = ctx.quick ? [1.5, 3] : [0.5, 1.1, 1.5, 2, 3];
      const cells: Cell[] = [];
      for (const pattern of PATTERNS) {
        for (const factor of factors) {
          const c = await measureCell(ctx, poolBytes, pattern, factor);
          ctx.log(`  ${pattern} ×${factor}: demand ${c.bandwidth.demand.toFixed(2)} (first dispatch ${c.bandwidth.first.toFixed(2)}, passes ${c.passes.first}), +hints ${c.bandwidth['demand+hints'].toFixed(2)}, declared ${c.bandwidth.declared.toFixed(2)} of resident; ` +
            `demand/declared ${(c.bandwidth.demand / c.bandwidth.declared).toFixed(2)}; passes ${c.passes.demand}, slices ${c.slices.demand}; bytes ${c.bytesPerByte.demand.toFixed(2)}/B`);
          cells.push(c);
        }
      }
      // The key figure: the worst ratio of demand over declared among the oversubscribed cells
      // (targets: 0.8 for grid-stride and block order, 0.5 for random-warp — taken apart in detail).
      const over = cells.filter((c) => c.factor >= 1.5);
      const ratio = (c: Cell) => c.bandwidth.demand / c.bandwidth.declared;
      const target = (c: Cell) => (c.pattern === 'random-warp' ? 0.5 : 0.8);
      const worst = over.reduce((w, c) => (ratio(c) / target(c) < ratio(w) / target(w) ? c : w));
      return {
        value: ratio(worst) / target(worst), target: 1, direction: 'min', unit: 'demand/declared over its target (worst cell)',
        baseline: worst.bandwidth.declared, runtime: worst.bandwidth.demand,
        detail: {
          worst: `${worst.pattern} ×${worst.factor}`,
          ...Object.fromEntries(cells.flatMap((c) => [
            [`${c.pattern} ×${c.factor}: demand/declared`, Math.round(ratio(c) * 1000) / 1000],
            [`${c.pattern} ×${c.factor}: passes/slices`, `${c.passes.demand}/${c.slices.demand}`],
            [`${c.pattern} ×${c.factor}: bytes per data byte`, Math.round(c.bytesPerByte.demand * 100) / 100],
            // The kernel's first dispatch on the space (no footprint known from a dispatch before).
            [`${c.pattern} ×${c.factor}: first dispatch/declared`, Math.round((c.bandwidth.first / c.bandwidth.declared) * 1000) / 1000],
            [`${c.pattern} ×${c.factor}: first dispatch passes/slices`, `${c.passes.first}/${c.slices.first}`],
          ])),
        },
      };
    },
  };
}
