// The `compile` case (issue 15): how long a kernel's first dispatch takes in
// each mode — declared, demand as a transaction, demand by replay — for a small
// kernel and for the BFS level kernel of demos/lib/graph500.ts. The first
// dispatch of a variant compiles it: on lavapipe most of that is llvmpipe's JIT
// at the pipeline's first use, so a kernel's compile time is what its first
// dispatch costs over a warm one. Each repetition compiles afresh: the kernels
// carry a salt constant, so neither Dawn's nor Mesa's shader caches (in memory,
// on disk) can serve them. Value: the worst ratio of a demand variant's first
// dispatch to the declared one's (target ≤ 2). Detail: each mode's median ms,
// and a first dispatch after `await kernel.ready(pool)` with what ready() took;
// in Node also the process's CPU time of each first dispatch and its ratios.

import { createKernel, createPool, createSpace, type Kernel } from '../src/index.ts';
import { bfsLevel } from '../demos/lib/graph500.ts';
import { KiB, median } from './lib.ts';
import type { BenchCase } from './suite.ts';

const SMALL = /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x;
  if (i >= vm_arg_u32(1u)) { return; }
  let a = vm_arg_u32(0u) + i * 4u;
  vm_store_u32(a, vm_load_u32(a) * 2u + 1u);
}`;

/** Kernels whose compiled code no earlier run has seen: the salt is a constant the code keeps. */
let salt = Math.floor(Math.random() * 2 ** 30);
function salted(code: string, label: string, idempotent: boolean, workgroupSize: number): Kernel {
  salt++;
  const body = code.replace('fn kernel(inv: VmInvocation) {', `fn kernel(inv: VmInvocation) {\n  if (vm_arg_u32(63u) == ${salt}u) { return; }`);
  return createKernel({ label: `bench:compile:${label}`, code: body, idempotent, workgroupSize });
}

/**
 * Milliseconds of CPU this process has used (all its threads: llvmpipe compiles on
 * its queue thread), where the platform tells (Node); on a shared machine it
 * varies less with the load than the wall clock does.
 */
function cpuMs(): number | undefined {
  const p = (globalThis as { process?: { cpuUsage?: () => { user: number; system: number } } }).process;
  const u = p?.cpuUsage?.();
  return u === undefined ? undefined : (u.user + u.system) / 1000;
}

type Mode = 'declared' | 'transaction' | 'replay';
const CASES: readonly { name: string; code: string; wg: number; modes: readonly Mode[] }[] = [
  { name: 'small', code: SMALL, wg: 64, modes: ['declared', 'transaction', 'replay'] },
  // Not idempotent (it appends with an atomic add): its demand dispatches are transactions.
  { name: 'bfs', code: bfsLevel.code, wg: bfsLevel.workgroupSize[0], modes: ['declared', 'transaction'] },
];

export const compile: BenchCase = {
  key: 'compile',
  title: 'first dispatch per mode (compile) vs the declared variant',
  async run(ctx) {
    const pool = await createPool(ctx.device, { capacity: 1024 * KiB, pageSize: 64 * KiB, label: 'bench:compile' });
    const space = createSpace(pool, { size: 1024 * KiB, label: 'bench:compile' });
    await space.write(0, new Uint8Array(1024 * KiB)); // resident after the first dispatch: a demand pass finds no fault
    // Every argument 0: each kernel returns at its first lines, so a dispatch costs its compile and a round trip.
    const first = async (k: Kernel, mode: Mode, cpuKey?: string): Promise<number> => {
      const c0 = cpuMs();
      const t0 = performance.now();
      await space.dispatch(k, mode === 'declared' ? { workgroups: 1, read: [{ addr: 0, byteLength: 1024 * KiB }] } : { workgroups: 1, demand: true });
      const ms = performance.now() - t0;
      if (cpuKey !== undefined && c0 !== undefined) put(`${cpuKey} cpu`, cpuMs()! - c0);
      return ms;
    };
    const reps = ctx.quick ? Math.min(ctx.reps, 3) : ctx.reps;
    const ms: Record<string, number[]> = {};
    const put = (k: string, v: number) => (ms[k] ??= []).push(v);
    // A warm dispatch first: pool, space and pass buffers exist before anything is timed.
    const warm = salted(SMALL, 'warm', false, 64);
    await first(warm, 'declared');
    await first(warm, 'declared');
    for (let r = 0; r < reps; r++) {
      for (const c of CASES) {
        for (const mode of c.modes) {
          // Interleaved: the modes of one kernel one after another in each repetition.
          const k = salted(c.code, `${c.name}:${mode}`, mode === 'replay', c.wg);
          put(`${c.name} ${mode}`, await first(k, mode, `${c.name} ${mode}`));
          put(`${c.name} ${mode} warm`, await first(k, mode));
        }
        // Compiled ahead: ready() with every variant, then the first dispatch of each.
        const ahead = salted(c.code, `${c.name}:ready`, false, c.wg);
        const t0 = performance.now();
        await ahead.ready(pool);
        put(`${c.name} ready()`, performance.now() - t0);
        put(`${c.name} declared after ready()`, await first(ahead, 'declared'));
        put(`${c.name} transaction after ready()`, await first(ahead, 'transaction'));
      }
    }
    space.destroy();
    pool.destroy();
    const m = Object.fromEntries(Object.entries(ms).map(([k, v]) => [k, median(v)]));
    const ratios: Record<string, number> = {};
    const cpuRatios: Record<string, number> = {};
    for (const c of CASES) {
      for (const mode of c.modes) {
        if (mode === 'declared') continue;
        ratios[`${c.name} ${mode}/declared`] = m[`${c.name} ${mode}`]! / m[`${c.name} declared`]!;
        if (m[`${c.name} declared cpu`] !== undefined) cpuRatios[`cpu: ${c.name} ${mode}/declared`] = m[`${c.name} ${mode} cpu`]! / m[`${c.name} declared cpu`]!;
      }
    }
    const [worst, value] = Object.entries(ratios).reduce((a, b) => (b[1] > a[1] ? b : a));
    const demandKey = worst.split('/')[0]!;
    return {
      value, target: 2, direction: 'max', unit: 'time ratio',
      baseline: m[`${worst.split(' ')[0]} declared`]!, runtime: m[demandKey]!,
      detail: {
        units: 'ms, first dispatch', worst,
        ...Object.fromEntries(Object.entries({ ...ratios, ...cpuRatios }).map(([k, v]) => [k, Math.round(v * 100) / 100])),
        ...Object.fromEntries(Object.entries(m).map(([k, v]) => [`ms: ${k}`, Math.round(v)])),
      },
    };
  },
};
