// The shader ABI (src/abi.ts) as a real WGSL compiler reads it: a shader with
// the generated declarations writes back every ABI constant and every field
// of the uniform block that uniformWords() filled, so a literal WGSL reads
// differently from JavaScript, or a struct field WGSL places elsewhere than
// the JavaScript offsets, shows up here.

import { expect } from 'vitest';
import { testWithDevice } from './helpers/gpu.ts';
import { abiWgsl, MAX_KERNEL_ARGS, Mode, UNIFORM_BYTES, uniformWords, wgslConstants } from '../src/abi.ts';
import { BufferUsage, MapMode } from '../src/gpu/constants.ts';

testWithDevice('the compiled ABI: constants and uniform fields read on the GPU what JavaScript wrote', async ({ device, track }) => {
  const consts = [...wgslConstants()];
  const fields = ['vm_u.num_pages', 'vm_u.mode', 'vm_u.bitmap_words', 'vm_u.slice_base', 'vm_u.skip_waiting', 'vm_u.grid.x', 'vm_u.grid.y', 'vm_u.grid.z', 'vm_u.grid.w'];
  for (let i = 0; i < MAX_KERNEL_ARGS; i++) fields.push(`vm_u.args[${i >> 2}][${i & 3}]`);
  const reads = [...consts.map(([name]) => name), ...fields];
  const code =
    abiWgsl() +
    '@group(1) @binding(0) var<storage, read_write> probe_out: array<u32>;\n' +
    '@compute @workgroup_size(1) fn probe_main() {\n' +
    reads.map((r, i) => `  probe_out[${i}] = ${r};\n`).join('') +
    '}\n';
  const module = device.createShaderModule({ code });
  const errors = (await module.getCompilationInfo()).messages.filter((m) => m.type === 'error');
  expect(errors.map((m) => `${m.lineNum}: ${m.message}`)).toEqual([]);
  const pipeline = await device.createComputePipelineAsync({ layout: 'auto', compute: { module, entryPoint: 'probe_main' } });

  const args = Uint32Array.from({ length: MAX_KERNEL_ARGS }, (_, i) => (0x9e37_79b9 * (i + 1)) >>> 0);
  const header = { numPages: 123_457, mode: Mode.Replay, bitmapWords: 3859, sliceBase: 77, grid: [65_535, 3, 2] as const, sliceEnd: 99_999, skipWaiting: true };
  const uniforms = track(device.createBuffer({ size: UNIFORM_BYTES, usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST }));
  device.queue.writeBuffer(uniforms, 0, uniformWords(header, args));
  const bytes = reads.length * 4;
  const out = track(device.createBuffer({ size: bytes, usage: BufferUsage.STORAGE | BufferUsage.COPY_SRC }));
  const back = track(device.createBuffer({ size: bytes, usage: BufferUsage.MAP_READ | BufferUsage.COPY_DST }));
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [{ binding: 0, resource: { buffer: uniforms } }] }));
  pass.setBindGroup(1, device.createBindGroup({ layout: pipeline.getBindGroupLayout(1), entries: [{ binding: 0, resource: { buffer: out } }] }));
  pass.dispatchWorkgroups(1);
  pass.end();
  enc.copyBufferToBuffer(out, 0, back, 0, bytes);
  device.queue.submit([enc.finish()]);
  await back.mapAsync(MapMode.READ);
  const got = new Uint32Array(back.getMappedRange().slice(0));
  back.unmap();

  const want = [
    ...consts.map(([, v]) => v),
    header.numPages, header.mode, header.bitmapWords, header.sliceBase, 1, ...header.grid, header.sliceEnd, ...args,
  ];
  expect(Object.fromEntries(reads.map((r, i) => [r, got[i]]))).toEqual(Object.fromEntries(reads.map((r, i) => [r, want[i]])));
});
