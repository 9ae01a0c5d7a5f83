// Spaces over 4 GiB through the public API: kernels reading and writing
// addresses above 4 GiB and above 32 GiB by VmPtr, in declared and demand
// dispatches, 64-bit struct layouts, and out-of-range addresses reported with
// their full address. The prelude and the two-level page table are checked
// on their own in test/kernel/wide.dawn.test.ts, which needs no host memory.
// Host memory is sparse segments (src/space/host-memory.ts), so a 64 GiB space
// costs only what is written.

import { describe, expect } from 'vitest';
import { testWithDevice, KiB, MiB } from '../helpers/gpu.ts';
import { affine64, makeSpace } from '../helpers/space.ts';
import { AccessViolationError, createKernel, defineStruct, MAX_NARROW_SPACE_SIZE, ptrWords } from '../../src/index.ts';

const GiB = 2 ** 30;

const words = (b: Uint8Array) => new Uint32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));

describe('spaces over 4 GiB (64-bit addresses)', () => {
  testWithDevice('declared dispatches read and write above 4 GiB and above 32 GiB; the u32 functions still reach the first 4 GiB', async (ctx) => {
    const { space } = await makeSpace(ctx, { capacity: 8 * MiB, pageSize: 64 * KiB }, 64 * GiB, { strict: false });
    expect(space.size).toBeGreaterThan(MAX_NARROW_SPACE_SIZE);
    const n = 4096;
    for (const base of [4 * GiB - 8 * KiB, 5 * GiB, 40 * GiB, 64 * GiB - n * 4]) {
      const data = Uint32Array.from({ length: n }, (_, i) => i * 7 + 1);
      await space.write(base, data);
      await space.dispatch(affine64(true), { workgroups: n / 64, write: [{ addr: base, byteLength: n * 4 }], args: [...ptrWords(base), n, 3, 1] });
      expect(words(await space.read(base, n * 4))).toEqual(data.map((x) => (x * 3 + 1) >>> 0));
    }
    const low = createKernel({ label: 'low', workgroupSize: 1, code: 'fn kernel(inv: VmInvocation) { vm_store_u32(16u, vm_load_u32(16u) + 1u); }' });
    await space.write(16, Uint32Array.of(41));
    await space.dispatch(low, { workgroups: 1, write: [{ addr: 0, byteLength: 64 }] });
    expect(words(await space.read(16, 4))[0]).toBe(42);
    space.checkInvariants();
  });

  testWithDevice('demand dispatches above 32 GiB: replayed and transactional kernels give one clean run', async (ctx) => {
    const { space } = await makeSpace(ctx, { capacity: 1 * MiB, pageSize: 64 * KiB }, 64 * GiB, { strict: false });
    const n = 256 * 1024; // 1 MiB of data through a 1 MiB pool: evicting as it goes
    for (const idempotent of [true, false]) {
      const base = idempotent ? 36 * GiB + 12 * KiB : 50 * GiB;
      const data = Uint32Array.from({ length: n }, (_, i) => i ^ 0x5a5a);
      await space.write(base, data);
      await space.dispatch(affine64(idempotent), { workgroups: n / 64, args: [...ptrWords(base), n, 5, 3], demand: true });
      expect(words(await space.read(base, n * 4))).toEqual(data.map((x) => (x * 5 + 3) >>> 0));
    }
  });

  testWithDevice('an address past the space is refused with its full address, and nothing lands', async (ctx) => {
    const { space } = await makeSpace(ctx, { capacity: 1 * MiB, pageSize: 64 * KiB }, 8 * GiB, { strict: false });
    const k = createKernel({ label: 'past', workgroupSize: 1, code: 'fn kernel(inv: VmInvocation) { vm_ptr_store_u32(vm_arg_ptr(0u), 1u); }' });
    const e = await space.dispatch(k, { workgroups: 1, args: ptrWords(8 * GiB + 4) }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(AccessViolationError);
    expect((e as AccessViolationError).violations[0]).toMatchObject({ kind: 'out-of-range', addr: 8 * GiB + 4 });
  });

  testWithDevice('a 64-bit struct layout (from the space) links records above 32 GiB', async (ctx) => {
    const { space } = await makeSpace(ctx, { capacity: 4 * MiB, pageSize: 64 * KiB }, 64 * GiB, { strict: false });
    const Node = defineStruct('Node', { key: 'u32', next: 'ptr' }, { space });
    expect(Node.pointerBits).toBe(64);
    const at = [33 * GiB, 5 * GiB + 64, 63 * GiB, 4 * GiB - 16];
    for (const [i, a] of at.entries()) await space.withView(a, Node.size, 'write', (v) => Node.write(v, 0, { key: i + 1, next: at[i + 1] ?? 0 }));
    const k = createKernel({
      label: 'walk', workgroupSize: 1, structs: [Node],
      code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  var p = vm_arg_ptr(0u);
  var s = 0u;
  while (!all(p == vm_ptr(0u, 0u))) { s = s * 10u + Node_key(p); Node_set_key(p, 0u); p = Node_next(p); }
  vm_store_u32(0u, s);
}`,
    });
    await space.dispatch(k, { workgroups: 1, args: ptrWords(at[0]!), demand: true });
    expect(words(await space.read(0, 4))[0]).toBe(1234);
    for (const a of at) expect(Node.read(await space.read(a, Node.size), 0).key).toBe(0);
  });
});
