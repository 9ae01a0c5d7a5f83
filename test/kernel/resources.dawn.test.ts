// A prelude kernel's own resources (issue 18 item 8): a uniform block and a
// buffer of the user's in @group(1), listed in createKernel's resources, beside
// the runtime's group 0. The source rules still refuse every other binding;
// the dispatch refuses the runtime's buffers there and missing or extra entries.

import { describe, expect, it } from 'vitest';
import { testWithDevice, KiB } from '../helpers/gpu.ts';
import { makeSpace, u32 } from '../helpers/space.ts';
import { createKernel, defineStruct, InvalidArgumentError, KernelCompileError } from '../../src/index.ts';
import { BufferUsage } from '../../src/gpu/constants.ts';

const P = 4 * KiB;

/** Typed parameters: one layout for the WGSL struct and the bytes the host writes (issue 18 item 8, typed args). */
const Params = defineStruct('Params', { scale: 'u32', bias: 'f32', count: 'u32' });

const CODE = /* wgsl */ `
${Params.wgslStruct()}
@group(1) @binding(0) var<uniform> params: Params;
@group(1) @binding(1) var<storage, read> table: array<u32>;
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x;
  if (i >= params.count) { return; }
  vm_store_u32(i * 4u, vm_load_u32(i * 4u) * params.scale + table[i % arrayLength(&table)]);
}`;
const LAYOUT = [{ binding: 0, buffer: { type: 'uniform' as const } }, { binding: 1, buffer: { type: 'read-only-storage' as const } }];

describe('kernel resources', () => {
  it('declarations outside group 1, or of bindings not listed, stay refused', () => {
    expect(() => createKernel({ code: CODE })).toThrow(KernelCompileError);
    expect(() => createKernel({ code: CODE, resources: [LAYOUT[0]!] })).toThrow(/@binding\(1\) table is not in createKernel's resources/);
    const group0 = CODE.replace('@group(1) @binding(1)', '@group(0) @binding(3)');
    expect(() => createKernel({ code: group0, resources: LAYOUT })).toThrow(/group 0 is the runtime's/);
    const stray = CODE.replace('fn kernel', '@group(1) fn helper() {}\nfn kernel');
    expect(() => createKernel({ code: stray, resources: LAYOUT })).toThrow(/@group and @binding may stand only/);
    expect(() => createKernel({ code: CODE, resources: [...LAYOUT, LAYOUT[0]!] })).toThrow(/listed twice/);
    expect(createKernel({ code: CODE, resources: LAYOUT }).resources).toHaveLength(2);
  });

  for (const demand of [false, true]) {
    testWithDevice(`${demand ? 'demand' : 'declared'}: a uniform and a buffer of the user's reach the kernel in group 1`, async (ctx) => {
      const { pool, space } = await makeSpace(ctx, { capacity: 8 * P, pageSize: P }, 16 * P);
      const n = 2048;
      await space.write(0, Uint32Array.from({ length: n }, (_, i) => i));
      const { device } = ctx;
      const params = ctx.track(device.createBuffer({ size: 16, usage: BufferUsage.UNIFORM | BufferUsage.COPY_DST }));
      const bytes = new Uint8Array(Params.size);
      Params.write(bytes, 0, { scale: 3, bias: 0.5, count: n });
      device.queue.writeBuffer(params, 0, bytes);
      const table = ctx.track(device.createBuffer({ size: 16, usage: BufferUsage.STORAGE | BufferUsage.COPY_DST }));
      device.queue.writeBuffer(table, 0, new Uint32Array([10, 20, 30, 40]));
      const k = createKernel({ code: CODE, resources: LAYOUT, label: 'with-resources' });
      await k.ready(pool); // compiled ahead with its group 1 layout (not run: no stand-ins for the user's resources)
      const resources = [{ binding: 0, resource: { buffer: params } }, { binding: 1, resource: { buffer: table } }];
      const range = { workgroups: n / 64, ...(demand ? { demand: true } : { write: [{ addr: 0, byteLength: n * 4 }] }) };
      await space.dispatch(k, { ...range, resources });
      const got = u32(await space.read(0, n * 4));
      for (let i = 0; i < n; i++) expect(got[i]).toBe(i * 3 + [10, 20, 30, 40][i % 4]!);
      await expect(space.dispatch(k, { ...range, resources: resources.slice(0, 1) })).rejects.toThrow(/@binding\(1\) are not given/);
      await expect(space.dispatch(k, { ...range, resources: [...resources, { binding: 2, resource: { buffer: table } }] })).rejects.toThrow(/not in the kernel's resources/);
      const window = (pool as unknown as { windows: GPUBuffer[] }).windows[0]!;
      await expect(space.dispatch(k, { ...range, resources: [resources[0]!, { binding: 1, resource: { buffer: window } }] })).rejects.toThrow(InvalidArgumentError);
      space.checkInvariants();
    });
  }
});
