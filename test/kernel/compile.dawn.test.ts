import { expect, test } from 'vitest';
import { testWithDevice, KiB } from '../helpers/gpu.ts';
import { makeSpace } from '../helpers/space.ts';
import { createKernel, createPool, createSpace, InvalidArgumentError, KernelCompileError } from '../../src/index.ts';
import { requestNodeDevice } from '../../src/node.ts';
import { PUBLIC_API } from '../../src/kernel/source-rules.ts';
import { link, type LinkConfig } from '../../src/kernel/link.ts';

testWithDevice('a kernel that does not compile: typed error with the line in the user’s code', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 64 * KiB, pageSize: 4 * KiB }, 64 * KiB);
  const bad = createKernel({ label: 'typo', code: 'fn kernel(inv: VmInvocation) {\n  let x = 1u;\n  vm_store_u32(0u, y);\n}' });
  const e = await space.compile(bad).catch((x: unknown) => x);
  expect(e).toBeInstanceOf(KernelCompileError);
  expect((e as KernelCompileError).messages[0]).toMatch(/^line 3:/);
  expect(() => createKernel({ code: 'fn main() {}' })).toThrow(/fn kernel/);
  expect(() => createKernel({ code: 'fn kernel(inv: VmInvocation) { let a = vm_w0[0]; }' })).toThrow(/reserved/);
  // The same kernel fixed compiles (failures are not cached).
  await space.compile(createKernel({ label: 'typo', code: 'fn kernel(inv: VmInvocation) {\n  vm_store_u32(0u, 1u);\n}' }));
});

testWithDevice('workgroup sizes and counts over the device limits are refused before submitting', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 64 * KiB, pageSize: 4 * KiB }, 64 * KiB);
  const L = ctx.device.limits;
  const ok = createKernel({ code: 'fn kernel(inv: VmInvocation) {}', workgroupSize: L.maxComputeInvocationsPerWorkgroup });
  await space.dispatch(ok, { workgroups: 1 });
  const big = createKernel({ code: 'fn kernel(inv: VmInvocation) {}', workgroupSize: [L.maxComputeWorkgroupSizeX, 2] });
  await expect(space.dispatch(big, { workgroups: 1 })).rejects.toThrow(InvalidArgumentError);
  await space.dispatch(ok, { workgroups: [L.maxComputeWorkgroupsPerDimension, 0] });
  await expect(space.dispatch(ok, { workgroups: L.maxComputeWorkgroupsPerDimension + 1 })).rejects.toThrow(/maxComputeWorkgroupsPerDimension/);
  await expect(space.dispatch(ok, { workgroups: 1, args: new Array(65).fill(0) })).rejects.toThrow(/at most 64/);
  await expect(space.dispatch(ok, { workgroups: 1, args: [1.5] })).rejects.toThrow(/Float32Array/);
});

// The documented API, every name of it, as a kernel would call it: PUBLIC_API
// (src/kernel/source-rules.ts) is what the source rules let through, so each
// name must compile against the real prelude, in both pipeline variants.
const API_KERNEL = /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let a = inv.global_id.x * 16u + inv.local_index * 0u;
  vm_store_u32(a, vm_load_u32(a));
  vm_store_i32(a, vm_load_i32(a));
  vm_store_f32(a, vm_load_f32(a));
  vm_store_vec2u(a, vm_load_vec2u(a));
  vm_store_vec2i(a, vm_load_vec2i(a));
  vm_store_vec2f(a, vm_load_vec2f(a));
  vm_store_vec4u(a, vm_load_vec4u(a));
  vm_store_vec4i(a, vm_load_vec4i(a));
  vm_store_vec4f(a, vm_load_vec4f(a));
  vm_atomic_store_u32(a, vm_atomic_load_u32(a));
  var x = vm_atomic_add_u32(a, 1u) + vm_atomic_sub_u32(a, 1u) + vm_atomic_max_u32(a, 1u) + vm_atomic_min_u32(a, 1u);
  x += vm_atomic_and_u32(a, 1u) + vm_atomic_or_u32(a, 1u) + vm_atomic_xor_u32(a, 1u) + vm_atomic_exchange_u32(a, x);
  let r: VmCasResult = vm_atomic_compare_exchange_u32(a, x, 0u);
  let s = vm_atomic_add_i32(a, 1) + vm_atomic_sub_i32(a, 1) + vm_arg_i32(1u);
  vm_save_u32(0u, vm_resume_u32(0u, x));
  if (vm_faulted() || !r.exchanged) { return; }
  vm_store_u32(a, r.old_value + u32(s) + vm_arg_u32(0u) + u32(vm_arg_f32(2u)));
}`;

// The same by a 64-bit pointer (a kernel of its own: compile time grows with the accesses).
const API_PTR_KERNEL = /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let a = inv.global_id.x * 16u;
  let p: VmPtr = vm_ptr_add(vm_ptr(0u, a), 0u) + vm_arg_ptr(4u) * 0u;
  vm_ptr_store_u32(p, vm_ptr_load_u32(p));
  vm_ptr_store_i32(p, vm_ptr_load_i32(p));
  vm_ptr_store_f32(p, vm_ptr_load_f32(p));
  vm_ptr_store_vec2u(p, vm_ptr_load_vec2u(p));
  vm_ptr_store_vec2i(p, vm_ptr_load_vec2i(p));
  vm_ptr_store_vec2f(p, vm_ptr_load_vec2f(p));
  vm_ptr_store_vec4u(p, vm_ptr_load_vec4u(p));
  vm_ptr_store_vec4i(p, vm_ptr_load_vec4i(p));
  vm_ptr_store_vec4f(p, vm_ptr_load_vec4f(p));
  vm_ptr_atomic_store_u32(p, vm_ptr_atomic_load_u32(p));
  var y = vm_ptr_atomic_add_u32(p, 1u) + vm_ptr_atomic_sub_u32(p, 1u) + vm_ptr_atomic_max_u32(p, 1u) + vm_ptr_atomic_min_u32(p, 1u);
  y += vm_ptr_atomic_and_u32(p, 1u) + vm_ptr_atomic_or_u32(p, 1u) + vm_ptr_atomic_xor_u32(p, 1u) + vm_ptr_atomic_exchange_u32(p, y);
  let q = vm_ptr_atomic_compare_exchange_u32(p, y, 0u);
  let t = vm_ptr_atomic_add_i32(p, 1) + vm_ptr_atomic_sub_i32(p, 1);
  if (q.exchanged) { vm_ptr_store_u32(p, u32(t)); }
}`;

testWithDevice('every name of the documented prelude API compiles, in declared and demand variants', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 64 * KiB, pageSize: 4 * KiB }, 64 * KiB);
  const used = new Set((API_KERNEL + API_PTR_KERNEL).match(/\b(vm_\w+|Vm\w+)/g));
  expect([...used].sort()).toEqual([...PUBLIC_API].sort());
  for (const [label, code] of [['api', API_KERNEL], ['api-ptr', API_PTR_KERNEL]] as const) {
    const k = createKernel({ label, code });
    await space.compile(k);
    await space.compile(k, { demand: true });
    await space.dispatch(k, { workgroups: 1, write: [{ addr: 0, byteLength: 4 * KiB }] });
  }
}, 300_000); // four pipelines of every prelude access: minutes on a loaded two-core machine

// The generated parts of the module (the ABI block from src/abi.ts, the pool's glue, the
// entry point) change with the link configuration: each combination must compile.
const PLAIN_KERNEL = /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let a = inv.global_id.x * 16u;
  vm_store_u32(a, vm_load_u32(a) + vm_arg_u32(0u));
  vm_store_vec4f(a, vm_load_vec4f(a) + vec4<f32>(vm_load_vec2f(a + 8u), 0.0, 1.0));
}`;

testWithDevice('a kernel compiles in every link configuration (windows, atomics, demand, replay record, counters)', async (ctx) => {
  const kernels = ([['plain', PLAIN_KERNEL], ['api', API_KERNEL], ['api-ptr', API_PTR_KERNEL]] as const).map(([label, code]) => createKernel({ label, code }));
  for (const k of kernels) {
    for (const windowCount of [1, 3]) {
      for (const demand of [false, true]) {
        for (const replayPerInvocation of [false, true]) {
          for (const accessCounters of [false, true]) {
            // 64-bit addresses and a two-level page table (spaces over 4 GiB), and the u32 ones.
            for (const wide of [false, true]) {
              const cfg: LinkConfig = {
                pageShift: 16, windowCount, windowWordShift: 22, demand, replayPerInvocation, accessCounters,
                wideAddresses: wide, pageTableLeafShift: wide ? 10 : 0,
              };
              const module = ctx.device.createShaderModule({ code: link(k, cfg).code });
              const errors = (await module.getCompilationInfo()).messages.filter((m) => m.type === 'error').map((m) => `${m.lineNum}: ${m.message}`);
              expect(errors, `${k.label} ${JSON.stringify(cfg)}`).toEqual([]);
            }
          }
        }
      }
    }
  }
});

testWithDevice('a label is a comment in the linked module, whatever line breaks it holds', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 64 * KiB, pageSize: 4 * KiB }, 64 * KiB);
  const label = 'x\r1\v2\f3\u0085 4\u2028 5\u2029 6\n fn vm_w0() {}';
  await space.compile(createKernel({ label, code: 'fn kernel(inv: VmInvocation) { vm_store_u32(0u, 1u); }' }));
});

test('head directives are linked at the top: an f16 kernel compiles and runs (devices with shader-f16)', async () => {
  const node = await requestNodeDevice({ requiredFeatures: ['shader-f16'] }).catch(() => null);
  if (!node) return; // the adapter has no shader-f16: nothing to show
  try {
    const pool = await createPool(node.device, { capacity: 64 * KiB, pageSize: 4 * KiB });
    const space = createSpace(pool, { size: 64 * KiB });
    const k = createKernel({
      label: 'half',
      workgroupSize: 1,
      code: 'enable f16;\ndiagnostic(off, derivative_uniformity);\n\nfn kernel(inv: VmInvocation) {\n  let h = f16(vm_load_f32(0u)) * 2.0h;\n  vm_store_f32(0u, f32(h));\n}',
    });
    await space.write(0, new Float32Array([1.5]));
    await space.dispatch(k, { workgroups: 1, write: [{ addr: 0, byteLength: 4 }] });
    expect(new Float32Array((await space.read(0, 4)).slice().buffer)[0]).toBe(3);
    // A compile error after the directives still names the user's own line.
    const bad = createKernel({ label: 'half', code: 'enable f16;\n\nfn kernel(inv: VmInvocation) {\n  let h: f16 = undefined_name;\n}' });
    const e = await space.compile(bad).catch((x: unknown) => x);
    expect((e as KernelCompileError).messages[0]).toMatch(/^line 4:/);
    space.destroy();
    pool.destroy();
  } finally {
    node.destroy();
  }
});
