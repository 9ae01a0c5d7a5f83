// Interop (issue 18 item 4c): a space's page table and pool windows bound into
// a pipeline the user builds, through the documented layout (space.interop).
// The user's pass translates virtual addresses with the WGSL it is given; the
// runtime pins the ranges around it and marks the written ones dirty, so host
// reads after end() see the pass's stores, and later dispatches see them too.

import { expect } from 'vitest';
import { testWithDevice, KiB } from '../helpers/gpu.ts';
import { affine, makeSpace, u32 } from '../helpers/space.ts';
import { INTEROP_BINDING, InvalidArgumentError } from '../../src/index.ts';
import { BufferUsage } from '../../src/gpu/constants.ts';

const P = 4 * KiB;

testWithDevice('a pipeline of the user’s own reads and writes a space through the interop bind group, coherently', async (ctx) => {
  // Two windows: the generated WGSL switches between them.
  const { pool, space } = await makeSpace(ctx, { capacity: 16 * P, pageSize: P, maxWindowSize: 8 * P, pinLimit: 16 * P }, 64 * P);
  const n = 12 * 1024; // 12 pages: more than one window's frames, so the range spans both windows
  const src = Uint32Array.from({ length: n }, (_, i) => i * 3);
  await space.write(0, src);
  await space.write(40 * P, Uint32Array.from({ length: 1024 }, () => 5));
  const io = await space.interop({ read: [{ addr: 40 * P, byteLength: P }], write: [{ addr: 0, byteLength: n * 4 }] });
  expect(io.windowCount).toBe(pool.windowCount);
  expect(io.framesPerWindow).toBe(8);
  expect(INTEROP_BINDING).toEqual({ pageTable: 0, firstWindow: 1 });
  const { device } = ctx;
  const params = ctx.track(device.createBuffer({ size: 16, usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST }));
  device.queue.writeBuffer(params, 0, new Uint32Array([n, 40 * P]));
  const code = io.wgsl(1) + /* wgsl */ `
struct Params { n: u32, addend: u32 }
@group(0) @binding(0) var<uniform> params: Params;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) g: vec3u) {
  if (g.x >= params.n) { return; }
  let a = g.x * 4u;
  hmm_store_u32(a, hmm_load_u32(a) * 2u + hmm_load_u32(params.addend + (g.x % 1024u) * 4u));
}`;
  const ownLayout = device.createBindGroupLayout({ entries: [{ binding: 0, visibility: 4, buffer: { type: 'uniform' } }] });
  const pipeline = device.createComputePipeline({
    layout: device.createPipelineLayout({ bindGroupLayouts: [ownLayout, io.layout] }),
    compute: { module: device.createShaderModule({ code }), entryPoint: 'main' },
  });
  const enc = device.createCommandEncoder();
  const pass = enc.beginComputePass();
  pass.setPipeline(pipeline);
  pass.setBindGroup(0, device.createBindGroup({ layout: ownLayout, entries: [{ binding: 0, resource: { buffer: params } }] }));
  pass.setBindGroup(1, io.bindGroup);
  pass.dispatchWorkgroups(n / 64);
  pass.end();
  device.queue.submit([enc.finish()]);
  // Pinned while the bracket is open.
  expect(space.residency(0, n * 4).pinned).toBe(12);
  io.end();
  io.end(); // idempotent
  expect(space.residency(0, n * 4).pinned).toBe(0);
  expect(space.pageState(0)).toBe('device');
  const got = u32(await space.read(0, n * 4));
  for (let i = 0; i < n; i++) expect(got[i]).toBe(src[i]! * 2 + 5);
  // A later dispatch of the runtime's own sees the pass's results.
  await space.dispatch(affine, { workgroups: n / 64, write: [{ addr: 0, byteLength: n * 4 }], args: [0, n, 1, 1] });
  const after = u32(await space.read(0, n * 4));
  for (let i = 0; i < n; i += 101) expect(after[i]).toBe(src[i]! * 2 + 6);
  await expect(space.interop({ write: [{ addr: 0, byteLength: 65 * P }] })).rejects.toThrow(/out of range|outside/);
  await expect(space.interop({ writes: [] } as never)).rejects.toThrow(InvalidArgumentError);
  space.checkInvariants();
});
