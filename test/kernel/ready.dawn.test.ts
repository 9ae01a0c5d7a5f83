// kernel.ready(pool): the variants a kernel's dispatches use are compiled ahead,
// in parallel, and run once; a dispatch after it (or during it) compiles nothing
// more. Pipelines are counted by wrapping the device's pipeline factories.

import { expect } from 'vitest';
import { testWithDevice, KiB } from '../helpers/gpu.ts';
import { makeSpace, u32 } from '../helpers/space.ts';
import { createKernel, DestroyedError, DeviceLostError, InvalidArgumentError, KernelCompileError } from '../../src/index.ts';
import { MAX_REPLAY_INVOCATIONS } from '../../src/options.ts';

/** Count the pipelines and shader modules the device makes; `events` is their order, with each pipeline's completion. */
function spy(device: GPUDevice): { pipelines: string[]; events: string[] } {
  const pipelines: string[] = [];
  const events: string[] = [];
  const d = device as unknown as Record<string, unknown>;
  const asyncMake = device.createComputePipelineAsync.bind(device);
  const syncMake = device.createComputePipeline.bind(device);
  const moduleMake = device.createShaderModule.bind(device);
  d['createComputePipelineAsync'] = (desc: GPUComputePipelineDescriptor) => {
    pipelines.push(desc.label ?? '');
    events.push('pipeline');
    return asyncMake(desc).finally(() => events.push('pipeline done'));
  };
  d['createComputePipeline'] = (desc: GPUComputePipelineDescriptor) => {
    pipelines.push(desc.label ?? '');
    return syncMake(desc);
  };
  d['createShaderModule'] = (desc: GPUShaderModuleDescriptor) => {
    events.push('module');
    return moduleMake(desc);
  };
  return { pipelines, events };
}

const CODE = /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x;
  if (i >= vm_arg_u32(1u)) { return; }
  let a = vm_arg_u32(0u) + i * 4u;
  vm_store_u32(a, vm_load_u32(a) * 2u + 1u);
}`;

testWithDevice('ready() compiles the declared and demand variants; the dispatches after it make no pipeline', async (ctx) => {
  const { pool, space } = await makeSpace(ctx, { capacity: 64 * KiB, pageSize: 4 * KiB }, 64 * KiB);
  for (const idempotent of [false, true]) {
    const k = createKernel({ label: `twice-${idempotent}`, code: CODE, idempotent });
    const s = spy(ctx.device);
    await k.ready(pool);
    // Declared, and the transaction variant's two (the usual one and the one by rounds of a sliced
    // dispatch), or the replay variant's three: a slice's first pass, a cold slice's sample and the
    // passes after a stall.
    const variants = idempotent ? 4 : 3;
    expect(s.pipelines).toEqual(Array<string>(variants).fill(`hmm:${k.label}`));
    // Both compiles were issued before either finished: in parallel.
    expect(s.events.indexOf('pipeline done')).toBeGreaterThan(s.events.lastIndexOf('module'));
    await space.write(0, new Uint32Array([1, 2, 3, 4]));
    await space.dispatch(k, { workgroups: 1, args: [0, 4], write: [{ addr: 0, byteLength: 16 }] });
    const r = await space.dispatch(k, { workgroups: 1, args: [0, 4], demand: true });
    expect(r.mode).toBe(idempotent ? 'replay' : 'transaction');
    expect(u32(await space.read(0, 16))).toEqual(new Uint32Array([7, 11, 15, 19]));
    await k.ready(pool); // again: nothing to do
    expect(s.pipelines).toHaveLength(variants);
  }
});

testWithDevice('modes: one variant at a time; a dispatch during ready() waits for its compile', async (ctx) => {
  const { pool, space } = await makeSpace(ctx, { capacity: 64 * KiB, pageSize: 4 * KiB }, 64 * KiB);
  const k = createKernel({ label: 'modes', code: CODE });
  const s = spy(ctx.device);
  await k.ready(pool, { modes: ['transaction'] });
  expect(s.pipelines).toHaveLength(2); // the transaction's two: the usual one, and by rounds
  await space.dispatch(k, { workgroups: 1, args: [0, 4], demand: true });
  expect(s.pipelines).toHaveLength(2);
  // The declared variant, asked for by ready() and by a dispatch at the same time: compiled once.
  const ready = k.ready(pool, { modes: ['declared', 'declared'] });
  await space.dispatch(k, { workgroups: 1, args: [0, 4], write: [{ addr: 0, byteLength: 16 }] });
  await ready;
  expect(s.pipelines).toHaveLength(3);
});

testWithDevice('workgroups picks the replay variant a dispatch of that size uses', async (ctx) => {
  const { pool } = await makeSpace(ctx, { capacity: 64 * KiB, pageSize: 4 * KiB }, 64 * KiB);
  const k = createKernel({ label: 'sizes', code: CODE, idempotent: true, workgroupSize: 64 });
  const s = spy(ctx.device);
  await k.ready(pool, { modes: ['replay'] });
  await k.ready(pool, { modes: ['replay'], workgroups: MAX_REPLAY_INVOCATIONS / 64 });
  expect(s.pipelines).toHaveLength(3); // per invocation, both: the first-pass variant, the sample and the completing one
  await k.ready(pool, { modes: ['replay'], workgroups: [MAX_REPLAY_INVOCATIONS / 64 + 1] });
  expect(s.pipelines).toHaveLength(4); // per workgroup: another completing pipeline (the first-pass ones keep no record: shared)
});

testWithDevice('ready() errors are typed: bad arguments before compiling, compile errors, a destroyed pool', async (ctx) => {
  const { pool } = await makeSpace(ctx, { capacity: 64 * KiB, pageSize: 4 * KiB }, 64 * KiB);
  const k = createKernel({ label: 'errors', code: CODE });
  const s = spy(ctx.device);
  await expect(k.ready({ device: ctx.device, pageSize: 4096, windowCount: 1, windowSize: 65536 })).rejects.toThrow(InvalidArgumentError);
  await expect(k.ready(pool, { modes: ['replay'] })).rejects.toThrow(/not idempotent.*'transaction'/);
  await expect(createKernel({ code: CODE, idempotent: true }).ready(pool, { modes: ['transaction'] })).rejects.toThrow(/idempotent.*'replay'/);
  await expect(k.ready(pool, { modes: [] })).rejects.toThrow(InvalidArgumentError);
  await expect(k.ready(pool, { modes: ['demand' as 'replay'] })).rejects.toThrow(/unknown mode "demand"/);
  await expect(k.ready(pool, { workgroups: -1 })).rejects.toThrow(InvalidArgumentError);
  await expect(k.ready(pool, { mode: ['declared'] } as never)).rejects.toThrow(/unknown option "mode"/);
  expect(s.pipelines).toEqual([]);
  const bad = createKernel({ label: 'typo', code: 'fn kernel(inv: VmInvocation) {\n  vm_store_u32(0u, y);\n}' });
  const e = await bad.ready(pool).catch((x: unknown) => x);
  expect(e).toBeInstanceOf(KernelCompileError);
  expect((e as KernelCompileError).messages[0]).toMatch(/^line 2:/);
  pool.destroy();
  await expect(k.ready(pool)).rejects.toThrow(DestroyedError);
});

testWithDevice('ready() on a lost device rejects with DeviceLostError', async (ctx) => {
  const { pool } = await makeSpace(ctx, { capacity: 64 * KiB, pageSize: 4 * KiB }, 64 * KiB);
  const k = createKernel({ label: 'lost', code: CODE });
  const pending = k.ready(pool).catch((x: unknown) => x);
  ctx.device.destroy();
  expect(await pending).toBeInstanceOf(DeviceLostError);
  expect(await k.ready(pool).catch((x: unknown) => x)).toBeInstanceOf(DeviceLostError);
});

testWithDevice('after ready(), a sliced transaction by rounds makes no pipeline either', async (ctx) => {
  // The rounds variant used to be compiled at a sliced transaction's first round: seconds into the
  // dispatch on lavapipe (the BFS level kernel's).
  const { pool, space } = await makeSpace(ctx, { capacity: 16 * KiB, pageSize: 4 * KiB }, 256 * KiB);
  const k = createKernel({ label: 'rounds-ready', code: CODE });
  const s = spy(ctx.device);
  await k.ready(pool);
  const made = s.pipelines.length;
  const n = 16 * 1024; // 64 KiB of words through 16 KiB: sliced, the rest by rounds
  await space.write(0, Uint32Array.from({ length: n }, (_, i) => i));
  const r = await space.dispatch(k, { workgroups: n / 64, args: [0, n], demand: true });
  expect(r.demand!.commits).toBeGreaterThan(2);
  expect(s.pipelines).toHaveLength(made);
  expect(u32(await space.read(0, n * 4))).toEqual(Uint32Array.from({ length: n }, (_, i) => i * 2 + 1));
});
