// Shared pieces for Dawn tests: a pool+space on a device, internals access,
// and a few kernels.

import { createKernel, createPool, createSpace, type AddressSpace, type Pool, type PoolOptions, type SpaceOptions } from '../../src/index.ts';
import type { SpaceCore } from '../../src/space/state.ts';
import type { PoolImpl } from '../../src/device/pool.ts';
import type { DeviceContext } from './gpu.ts';

export async function makeSpace(
  ctx: DeviceContext, pool: PoolOptions, size: number, options: Omit<SpaceOptions, 'size'> = {},
): Promise<{ pool: Pool; space: AddressSpace }> {
  const p = ctx.track(await createPool(ctx.device, pool));
  // Strict mode on: every Dawn test doubles as a check that the runtime never writes host bytes behind its own back.
  const space = ctx.track(createSpace(p, { size, strict: true, ...options }));
  return { pool: p, space };
}

export function coreOf(space: AddressSpace): SpaceCore {
  return (space as unknown as { core: SpaceCore }).core;
}

export function poolImpl(pool: Pool): PoolImpl {
  return pool as PoolImpl;
}

export function u32(bytes: Uint8Array): Uint32Array {
  return new Uint32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
}

/** a[i] = a[i] * mul + add over args: [base, count, mul, add]. */
export const affine = createKernel({
  label: 'affine',
  workgroupSize: 64,
  code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x + inv.global_id.y * inv.num_workgroups.x * 64u;
  if (i >= vm_arg_u32(1u)) { return; }
  let a = vm_arg_u32(0u) + i * 4u;
  vm_store_u32(a, vm_load_u32(a) * vm_arg_u32(2u) + vm_arg_u32(3u));
}`,
});

/** a[i] = a[i] * 3 + i over args [base, count]: in place, so running a workgroup twice is wrong. */
export const inPlace = createKernel({
  label: 'in-place',
  workgroupSize: 64,
  code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x;
  if (i >= vm_arg_u32(1u)) { return; }
  let a = vm_arg_u32(0u) + i * 4u;
  vm_store_u32(a, vm_load_u32(a) * 3u + i);
}`,
});

/** dst[i] = src[i] over args: [src, dst, count]. */
export const copyKernel = createKernel({
  label: 'copy',
  workgroupSize: 64,
  code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x;
  if (i >= vm_arg_u32(2u)) { return; }
  vm_store_u32(vm_arg_u32(1u) + i * 4u, vm_load_u32(vm_arg_u32(0u) + i * 4u));
}`,
});

/** Load the word at args[0] and nothing else: touches one page, read-only. */
export const readWord = createKernel({
  label: 'read-word',
  workgroupSize: 1,
  code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  _ = vm_load_u32(vm_arg_u32(0u));
}`,
});

/** Store/load one word at an arbitrary address: args [addr, value, mode]; mode 0 store, 1 load-and-store-at-addr+4. */
export const poke = createKernel({
  label: 'poke',
  workgroupSize: 1,
  code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  if (vm_arg_u32(2u) == 0u) {
    vm_store_u32(vm_arg_u32(0u), vm_arg_u32(1u));
  } else {
    vm_store_u32(vm_arg_u32(3u), vm_load_u32(vm_arg_u32(0u)));
  }
}`,
});

/**
 * Force an interleaving: wrap the pool's transfer `method` so that `action`
 * starts once, one microtask after the first call began its copy — while that
 * copy is in flight (a map cannot complete within a microtask). `injected()`
 * resolves when the action finished, and rejects if it never ran.
 */
export function duringFirstCopy(
  pool: Pool,
  method: 'staging' | 'readback' | 'readbackDetached',
  action: () => Promise<void>,
): { injected(): Promise<void> } {
  const transfer = poolImpl(pool).transfer;
  const original = transfer[method].bind(transfer) as (...args: unknown[]) => Promise<void>;
  let ran: Promise<void> | undefined;
  (transfer as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
    const p = original(...args);
    ran ??= Promise.resolve().then(action);
    return p;
  };
  return { injected: () => ran ?? Promise.reject(new Error(`${method} was never called: nothing was injected`)) };
}

/** Reads word 0 of each of args[1] 4 KiB pages from args[0]; stores nothing unless a word is all ones (to args[2]). */
export const touchPages = createKernel({
  label: 'touch',
  workgroupSize: 64,
  code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x;
  if (i >= vm_arg_u32(1u)) { return; }
  let v = vm_load_u32(vm_arg_u32(0u) + i * 4096u);
  if (v == 0xffffffffu) { vm_store_u32(vm_arg_u32(2u), v); }
}`,
});

/** a[i] = a[i]·mul + add by VmPtr (spaces over 4 GiB): args [base low, base high, count, mul, add]. */
export const affine64 = (idempotent: boolean) => createKernel({
  label: `affine64${idempotent ? '' : ':tx'}`,
  workgroupSize: 64,
  idempotent,
  code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x;
  if (i >= vm_arg_u32(2u)) { return; }
  let a = vm_ptr_add(vm_arg_ptr(0u), i * 4u);
  vm_ptr_store_u32(a, vm_ptr_load_u32(a) * vm_arg_u32(3u) + vm_arg_u32(4u));
}`,
});
