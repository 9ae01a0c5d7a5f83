import { expect } from 'vitest';
import { testWithDevice, KiB } from '../helpers/gpu.ts';
import { makeSpace, poke, u32 } from '../helpers/space.ts';
import { AccessViolationError, createKernel, createPool, createSpace } from '../../src/index.ts';

const P = 4 * KiB;

async function violation(p: Promise<unknown>): Promise<AccessViolationError> {
  const e = await p.then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(AccessViolationError);
  return e as AccessViolationError;
}

testWithDevice('violations are reported with address, kind and invocation, and not carried out', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 16 * P, pageSize: P }, 16 * P);
  await space.write(0, new Uint32Array((4 * P) / 4).fill(1));
  const w = [{ addr: 0, byteLength: P }];
  // Out of range: past the end of the space.
  let e = await violation(space.dispatch(poke, { workgroups: 1, write: w, args: [16 * P, 9, 0] }));
  expect(e.violations[0]).toEqual({ addr: 16 * P, kind: 'out-of-range', invocation: [0, 0, 0] });
  // Store into a page declared read-only.
  e = await violation(space.dispatch(poke, { workgroups: 1, read: [{ addr: P, byteLength: P }], write: w, args: [P + 8, 9, 0] }));
  expect(e.violations[0]!.kind).toBe('not-writable');
  // Load from a page not declared at all (resident or not).
  e = await violation(space.dispatch(poke, { workgroups: 1, write: w, args: [2 * P, 0, 1, 4] }));
  expect(e.violations[0]).toMatchObject({ addr: 2 * P, kind: 'not-readable' });
  // Misaligned.
  e = await violation(space.dispatch(poke, { workgroups: 1, write: w, args: [6, 9, 0] }));
  expect(e.violations[0]).toMatchObject({ addr: 6, kind: 'misaligned' });
  expect(e.code).toBe('ACCESS_VIOLATION');
  // Nothing was written anywhere; the refused load stored 0 at address 4 (inside the declared range).
  const out = u32(await space.read(0, 4 * P));
  expect(out[1]).toBe(0);
  out[1] = 1;
  expect(out.every((x) => x === 1)).toBe(true);
});

testWithDevice('many violating invocations: the first 32 in full, all of them counted', async (ctx) => {
  const { space } = await makeSpace(ctx, { capacity: 4 * P, pageSize: P }, 4 * P);
  const k = createKernel({
    label: 'stray',
    workgroupSize: 64,
    code: `fn kernel(inv: VmInvocation) { vm_store_u32(${2 * P}u + inv.global_id.x * 4u, 1u); }`,
  });
  const e = await violation(space.dispatch(k, { workgroups: 2, write: [{ addr: 0, byteLength: 4 }] }));
  expect(e.count).toBe(128);
  expect(e.violations).toHaveLength(32);
  expect(new Set(e.violations.map((v) => v.invocation[0])).size).toBe(32);
});

testWithDevice('two spaces sharing one pool never see each other’s data', async (ctx) => {
  const pool = ctx.track(await createPool(ctx.device, { capacity: 4 * P, pageSize: P }));
  const a = ctx.track(createSpace(pool, { size: 8 * P, label: 'A' }));
  const b = ctx.track(createSpace(pool, { size: 8 * P, label: 'B' }));
  await a.write(0, new Uint32Array((8 * P) / 4).fill(0xaaaa));
  await b.write(0, new Uint32Array((8 * P) / 4).fill(0xbbbb));
  const readAll = createKernel({
    label: 'scan',
    workgroupSize: 64,
    code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x;
  if (i >= vm_arg_u32(1u)) { return; }
  let v = vm_load_u32(i * 4u);
  if (v != vm_arg_u32(0u)) { vm_atomic_add_u32(vm_arg_u32(2u), 1u); }
}`,
  });
  for (let round = 0; round < 3; round++) {
    // Each dispatch evicts the other space's frames; a stale translation would show its data.
    await a.dispatch(readAll, { workgroups: 16, read: [{ addr: 0, byteLength: 2 * P }], write: [{ addr: 2 * P, byteLength: 4 }], args: [0xaaaa, 2 * 1024, 2 * P] });
    await b.dispatch(readAll, { workgroups: 16, read: [{ addr: 0, byteLength: 2 * P }], write: [{ addr: 2 * P, byteLength: 4 }], args: [0xbbbb, 2 * 1024, 2 * P] });
  }
  expect(u32(await a.read(2 * P, 4))[0]).toBe(0xaaaa); // no mismatch was ever counted
  expect(u32(await b.read(2 * P, 4))[0]).toBe(0xbbbb);
  // A kernel on A that sweeps addresses far beyond its space reaches nothing.
  const sweep = createKernel({
    label: 'sweep',
    workgroupSize: 64,
    code: `fn kernel(inv: VmInvocation) { vm_store_u32(inv.global_id.x * 4096u * 7u, 0xdeadu); }`,
  });
  const e = await a.dispatch(sweep, { workgroups: 64, write: [{ addr: 0, byteLength: P }] }).catch((x: unknown) => x);
  expect(e).toBeInstanceOf(AccessViolationError);
  const bOut = u32(await b.read(0, 8 * P));
  expect(bOut.filter((x) => x !== 0xbbbb).length).toBe(0); // B never counted a mismatch and was never written by A
  a.checkInvariants();
});
