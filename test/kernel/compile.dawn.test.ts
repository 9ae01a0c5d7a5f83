import { expect } from 'vitest';
import { testWithDevice, KiB } from '../helpers/gpu.ts';
import { makeSpace } from '../helpers/space.ts';
import { createKernel, InvalidArgumentError, KernelCompileError } from '../../src/index.ts';

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
