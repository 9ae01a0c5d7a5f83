// Issue order (issue 13 item 5): every operation on a space takes effect in the
// order it was issued, like a GPUQueue, in declared and demand mode alike. A
// host operation waits only for earlier dispatches whose declared ranges it
// conflicts with, so independent work still overlaps.

import { expect } from 'vitest';
import { testWithDevice, KiB } from '../helpers/gpu.ts';
import { affine, makeSpace, u32 } from '../helpers/space.ts';
import { createKernel } from '../../src/index.ts';

const P = 4 * KiB;
const range = (addr: number, byteLength: number) => [{ addr, byteLength }];

/** a += 1 for one word at args[0]: a fresh kernel (its first dispatch compiles, which takes a while). */
function incKernel(tag: string) {
  return createKernel({ label: `inc-${tag}`, workgroupSize: 1, code: `fn kernel(inv: VmInvocation) { let a = vm_arg_u32(0u); vm_store_u32(a, vm_load_u32(a) + 1u); }` });
}

testWithDevice('write, unawaited declared dispatch, read: the read sees the dispatch', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 8 * P, pageSize: P }, 8 * P);
  const inc = incKernel('a');
  void space.write(0, new Uint32Array([10]));
  const d = space.dispatch(inc, { workgroups: 1, write: range(0, 4), args: [0] });
  const r = space.read(0, 4);
  await d;
  expect(u32(await r)[0]).toBe(11); // was 10: the read landed before the dispatch
});

testWithDevice('a host write issued after an unawaited declared dispatch is not seen by it', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 8 * P, pageSize: P }, 8 * P);
  const inc = incKernel('b');
  await space.write(0, new Uint32Array([1]));
  const d = space.dispatch(inc, { workgroups: 1, write: range(0, 4), args: [0] });
  const w = space.write(0, new Uint32Array([5]));
  await Promise.all([d, w]);
  expect(u32(await space.read(0, 4))[0]).toBe(5); // was 6: the dispatch incremented the later write
});

testWithDevice('a free issued after an unawaited declared dispatch: the block reads zero', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 8 * P, pageSize: P }, 8 * P);
  const inc = incKernel('c');
  const a = space.alloc(P, { align: P });
  await space.write(a, new Uint32Array([1]));
  const d = space.dispatch(inc, { workgroups: 1, write: range(a, 4), args: [a] });
  space.free(a);
  await d;
  expect(u32(await space.read(a, 4))[0]).toBe(0);
  space.checkInvariants();
});

testWithDevice('two declared dispatches run in issue order even when the first compiles longer', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 8 * P, pageSize: P }, 8 * P);
  const slow = createKernel({
    label: 'double-plus-one', workgroupSize: 1,
    code: `fn kernel(inv: VmInvocation) { let a = vm_arg_u32(0u); vm_store_u32(a, vm_load_u32(a) * 2u + 1u); }`,
  });
  const inc = incKernel('d');
  await space.compile(inc); // the second is compiled already; the first is not
  await space.write(0, new Uint32Array([3]));
  const d1 = space.dispatch(slow, { workgroups: 1, write: range(0, 4), args: [0] });
  const d2 = space.dispatch(inc, { workgroups: 1, write: range(0, 4), args: [0] });
  await Promise.all([d1, d2]);
  expect(u32(await space.read(0, 4))[0]).toBe(3 * 2 + 1 + 1); // in the other order: (3 + 1) * 2 + 1 = 9
});

testWithDevice('a demand dispatch after an unawaited declared one follows it', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 8 * P, pageSize: P }, 8 * P);
  const slow = createKernel({
    label: 'times-three', workgroupSize: 1,
    code: `fn kernel(inv: VmInvocation) { let a = vm_arg_u32(0u); vm_store_u32(a, vm_load_u32(a) * 3u); }`,
  });
  const inc = incKernel('e');
  await space.compile(inc, { demand: true });
  await space.write(0, new Uint32Array([2]));
  const d1 = space.dispatch(slow, { workgroups: 1, write: range(0, 4), args: [0] });
  const d2 = space.dispatch(inc, { workgroups: 1, demand: true, args: [0] });
  await Promise.all([d1, d2]);
  expect(u32(await space.read(0, 4))[0]).toBe(7);
});

testWithDevice('independent work overlaps: a read of pages no pending dispatch writes does not wait for it', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 8 * P, pageSize: P }, 8 * P);
  await space.write(4 * P, new Uint32Array([42]));
  const order: string[] = [];
  const d = space.dispatch(affine, { workgroups: 16, write: range(0, P), args: [0, P / 4, 1, 1] }).then(() => order.push('dispatch'));
  // Reads of the dispatch's read-only or untouched pages, and of other pages: no conflict.
  const r = space.read(4 * P, 4).then((b) => {
    order.push('read');
    return b;
  });
  await Promise.all([d, r]);
  expect(order).toEqual(['read', 'dispatch']);
  expect(u32(await r)[0]).toBe(42);
});

testWithDevice('a read of a page a pending dispatch only reads does not wait; a write to it does', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 8 * P, pageSize: P }, 8 * P);
  const copy = createKernel({
    label: 'copy-one', workgroupSize: 1,
    code: `fn kernel(inv: VmInvocation) { vm_store_u32(vm_arg_u32(1u), vm_load_u32(vm_arg_u32(0u))); }`,
  });
  await space.write(0, new Uint32Array([6]));
  const order: string[] = [];
  const d = space.dispatch(copy, { workgroups: 1, read: range(0, 4), write: range(P, 4), args: [0, P] }).then(() => order.push('dispatch'));
  const r = space.read(0, 4).then(() => order.push('read'));
  const w = space.write(0, new Uint32Array([9])).then(() => order.push('write'));
  await Promise.all([d, r, w]);
  expect(order).toEqual(['read', 'dispatch', 'write']);
  expect(u32(await space.read(P, 4))[0]).toBe(6); // the dispatch read the value before the later write
  expect(u32(await space.read(0, 4))[0]).toBe(9);
});
