// Hostile input (issue 6 item 5): every bad call gets a typed error with a
// code and a message that names the fix, and leaves the space as it was —
// page states, pins, allocations, frames, migration counters and every byte.
// The accepted side of each limit is checked at the end of the file.

import { describe, expect, test } from 'vitest';
import { testWithDevice, type DeviceContext } from '../helpers/gpu.ts';
import { affine, copyKernel, coreOf, makeSpace, poke } from '../helpers/space.ts';
import {
  AccessViolationError, BadPageSizeError, createKernel, createPool, createSpace, DestroyedError, DoubleFreeError, HmmError,
  InvalidArgumentError, KernelCompileError, MAX_SPACE_SIZE, NotPinnedError, OutOfRangeError, OutOfVirtualMemoryError, PinLimitError,
  PoolConfigError, ReplayUnsafeError, UnknownAllocationError, type AddressSpace, type HmmErrorCode, type Kernel, type Pool,
} from '../../src/index.ts';

const P = 4096;
const PAGES = 32;
const SIZE = PAGES * P;

interface Fixture {
  readonly ctx: DeviceContext;
  readonly pool: Pool;
  readonly space: AddressSpace;
  /** A live allocation (pages 1–2). */
  readonly live: number;
  /** A 64-byte allocation, already freed. */
  readonly freed: number;
  /** A page-aligned allocation (page 3) that was pinned and then freed: the free dropped its pin. */
  readonly pinFreed: number;
  /** What every byte of the space holds. */
  readonly ref: Uint32Array;
}

/**
 * Pages 0–2, 6–11: host-valid data; page 3 freed (zero); pages 4–5 written by
 * the device (device-only); 6–7 read by the device (shared); 8 pinned; 12–31
 * never written. The pool has 8 frames and a pin limit of 2 pages.
 */
async function fixture(ctx: DeviceContext): Promise<Fixture> {
  const { pool, space } = await makeSpace(ctx, { capacity: 8 * P, pageSize: P, pinLimit: 2 * P }, SIZE);
  const ref = new Uint32Array(SIZE / 4);
  for (let i = 0; i < (12 * P) / 4; i++) ref[i] = (i * 7 + 1) >>> 0;
  await space.write(0, ref.subarray(0, (12 * P) / 4));
  const live = space.alloc(2 * P, { align: P, label: 'live' });
  const freed = space.alloc(64, { label: 'freed' });
  space.free(freed);
  const pinFreed = space.alloc(P, { align: P, label: 'pin-freed' });
  expect(pinFreed).toBe(3 * P);
  await space.pin(pinFreed, P);
  space.free(pinFreed);
  ref.fill(0, (3 * P) / 4, (4 * P) / 4);
  await space.dispatch(affine, { workgroups: 32, write: [{ addr: 4 * P, byteLength: 2 * P }], args: [4 * P, (2 * P) / 4, 3, 5] });
  for (let i = (4 * P) / 4; i < (6 * P) / 4; i++) ref[i] = (ref[i]! * 3 + 5) >>> 0;
  await space.dispatch(copyKernel, { workgroups: 1, read: [{ addr: 6 * P, byteLength: 2 * P }], args: [6 * P, 6 * P, 0] });
  await space.pin(8 * P, P);
  const states = Array.from({ length: PAGES }, (_, p) => space.pageState(p * P));
  const want = ['host', 'host', 'host', 'unpopulated', 'device', 'device', 'shared', 'shared', 'shared', 'host', 'host', 'host'];
  expect(states).toEqual([...want, ...new Array(PAGES - want.length).fill('unpopulated')]);
  return { ctx, pool, space, live, freed, pinFreed, ref };
}

interface Snapshot {
  readonly states: string[];
  readonly residency: ReturnType<AddressSpace['residency']>;
  readonly pinnedPages: number[];
  readonly live: unknown;
  readonly stats: unknown;
}

function snapshot(f: Fixture): Snapshot {
  const states: string[] = [];
  const pinnedPages: number[] = [];
  for (let p = 0; p < PAGES; p++) {
    states.push(f.space.pageState(p * P));
    if (f.space.residency(p * P, P).pinned > 0) pinnedPages.push(p);
  }
  const s = f.pool.stats();
  return {
    states, pinnedPages, residency: f.space.residency(), live: coreOf(f.space).allocator.live(),
    stats: [s.bytesToDevice, s.bytesToHost, s.pagesCleared, s.evictions, s.invalidations, s.pinnedBytes, s.framesUsed],
  };
}

const noop = createKernel({ label: 'noop', workgroupSize: 1, code: 'fn kernel(inv: VmInvocation) {}' });
const misaligned = createKernel({ label: 'misaligned', workgroupSize: 1, code: 'fn kernel(inv: VmInvocation) { vm_store_u32(vm_arg_u32(0u) + 2u, 1u); }' });

interface Row {
  readonly name: string;
  readonly call: (f: Fixture) => unknown;
  readonly error: abstract new (...args: never[]) => HmmError;
  readonly code: HmmErrorCode;
  /** The message must say how to fix the call. */
  readonly fix: RegExp;
  /** Further checks on the error object. */
  readonly check?: (e: HmmError, f: Fixture) => void;
}

const rows: Row[] = [
  // ---- out of range ----
  { name: 'read past the end of the space', call: (f) => f.space.read(SIZE - 4, 8), error: OutOfRangeError, code: 'OUT_OF_RANGE', fix: new RegExp(`ends at or before ${SIZE}`) },
  { name: 'write starting at the end of the space', call: (f) => f.space.write(SIZE, new Uint8Array(1)), error: OutOfRangeError, code: 'OUT_OF_RANGE', fix: /use an address from alloc\(\)/ },
  { name: 'pin past the end', call: (f) => f.space.pin(SIZE - P, 2 * P), error: OutOfRangeError, code: 'OUT_OF_RANGE', fix: /ends at or before/ },
  { name: 'declared write range outside the space', call: (f) => f.space.dispatch(noop, { workgroups: 1, write: [{ addr: SIZE, byteLength: 4 }] }), error: OutOfRangeError, code: 'OUT_OF_RANGE', fix: /ends at or before/ },
  { name: 'residency of a range past the end', call: (f) => f.space.residency(0, SIZE + P), error: OutOfRangeError, code: 'OUT_OF_RANGE', fix: /ends at or before/ },
  { name: 'alloc larger than any free block', call: (f) => f.space.alloc(SIZE), error: OutOfVirtualMemoryError, code: 'OUT_OF_VIRTUAL_MEMORY', fix: /free some allocations or create a larger space/ },
  // ---- zero, negative, NaN, fractional ----
  { name: 'read at a negative address', call: (f) => f.space.read(-4, 4), error: InvalidArgumentError, code: 'INVALID_ARGUMENT', fix: /non-negative whole number, got -4/ },
  { name: 'read of NaN bytes', call: (f) => f.space.read(0, NaN), error: InvalidArgumentError, code: 'INVALID_ARGUMENT', fix: /non-negative whole number, got NaN/ },
  { name: 'write at a fractional address', call: (f) => f.space.write(0.5, new Uint8Array(4)), error: InvalidArgumentError, code: 'INVALID_ARGUMENT', fix: /whole number, got 0.5/ },
  { name: 'alloc of zero bytes', call: (f) => f.space.alloc(0), error: InvalidArgumentError, code: 'INVALID_ARGUMENT', fix: /positive whole number of bytes, got 0/ },
  { name: 'alloc of a negative size', call: (f) => f.space.alloc(-16), error: InvalidArgumentError, code: 'INVALID_ARGUMENT', fix: /positive whole number of bytes, got -16/ },
  { name: 'alloc of NaN bytes', call: (f) => f.space.alloc(NaN), error: InvalidArgumentError, code: 'INVALID_ARGUMENT', fix: /positive whole number of bytes, got NaN/ },
  { name: 'pin of zero bytes', call: (f) => f.space.pin(0, 0), error: InvalidArgumentError, code: 'INVALID_ARGUMENT', fix: /positive whole number, got 0/ },
  { name: 'space of zero bytes', call: (f) => createSpace(f.pool, { size: 0 }), error: InvalidArgumentError, code: 'INVALID_ARGUMENT', fix: /positive whole number of bytes/ },
  { name: 'negative workgroup count', call: (f) => f.space.dispatch(noop, { workgroups: -1 }), error: InvalidArgumentError, code: 'INVALID_ARGUMENT', fix: /whole numbers from 0 to/ },
  { name: 'NaN workgroup count', call: (f) => f.space.dispatch(noop, { workgroups: [1, NaN] }), error: InvalidArgumentError, code: 'INVALID_ARGUMENT', fix: /whole numbers from 0 to/ },
  // ---- misaligned, not a power of two ----
  { name: 'alloc alignment not a power of two', call: (f) => f.space.alloc(16, { align: 3 }), error: InvalidArgumentError, code: 'INVALID_ARGUMENT', fix: /must be a power of two, got 3/ },
  { name: 'page size not a power of two', call: (f) => createPool(f.ctx.device, { pageSize: 3000 }), error: BadPageSizeError, code: 'BAD_PAGE_SIZE', fix: /use one of 4096, 8192/ },
  { name: 'page size below 4 KiB', call: (f) => createPool(f.ctx.device, { pageSize: 2048 }), error: BadPageSizeError, code: 'BAD_PAGE_SIZE', fix: /use one of 4096/ },
  { name: 'page size above 2 MiB', call: (f) => createPool(f.ctx.device, { pageSize: 4 * 1024 * 1024 }), error: BadPageSizeError, code: 'BAD_PAGE_SIZE', fix: /use one of 4096/ },
  { name: 'space size not a multiple of the page size', call: (f) => createSpace(f.pool, { size: P + 1 }), error: InvalidArgumentError, code: 'INVALID_ARGUMENT', fix: new RegExp(`round it up to ${2 * P}`) },
  { name: 'pool capacity not a multiple of the page size', call: (f) => createPool(f.ctx.device, { capacity: 3 * P + 1, pageSize: P }), error: InvalidArgumentError, code: 'INVALID_ARGUMENT', fix: new RegExp(`round it to ${3 * P}`) },
  {
    name: 'a kernel store at a misaligned address', call: (f) => f.space.dispatch(misaligned, { workgroups: 1, write: [{ addr: 4 * P, byteLength: 2 * P }], args: [4 * P] }),
    error: AccessViolationError, code: 'ACCESS_VIOLATION', fix: /align the access to its type's size/,
    check: (e) => expect((e as AccessViolationError).violations[0]).toMatchObject({ kind: 'misaligned', addr: 4 * P + 2 }),
  },
  // ---- free and use after free ----
  { name: 'double free', call: (f) => f.space.free(f.freed), error: DoubleFreeError, code: 'DOUBLE_FREE', fix: /free each address from alloc\(\) once/ },
  { name: 'free of an address alloc() never returned', call: (f) => f.space.free(f.live + 4), error: UnknownAllocationError, code: 'UNKNOWN_ALLOCATION', fix: /pass the exact address alloc\(\) returned/ },
  { name: 'unpin after the free that dropped the pin', call: (f) => f.space.unpin(f.pinFreed, P), error: NotPinnedError, code: 'NOT_PINNED', fix: /unpin only ranges you pinned/ },
  {
    name: 'use of a destroyed space', error: DestroyedError, code: 'DESTROYED', fix: /create a new one/,
    call: (f) => {
      const other = createSpace(f.pool, { size: P });
      other.destroy();
      return other.read(0, 4);
    },
  },
  {
    name: 'use of a space whose pool was destroyed', error: DestroyedError, code: 'DESTROYED', fix: /create a new one/,
    call: async (f) => {
      const pool = await createPool(f.ctx.device, { capacity: P, pageSize: P });
      const other = createSpace(pool, { size: P });
      pool.destroy();
      return other.write(0, new Uint8Array(4));
    },
  },
  // ---- limits ----
  {
    name: 'pin over the pin limit', call: (f) => f.space.pin(9 * P, 2 * P), error: PinLimitError, code: 'PIN_LIMIT', fix: /unpin something first or create the pool with a larger pinLimit/,
    check: (e) => expect([(e as PinLimitError).requested, (e as PinLimitError).pinned, (e as PinLimitError).limit]).toEqual([2 * P, P, 2 * P]),
  },
  { name: 'pinLimit over the pool capacity', call: (f) => createPool(f.ctx.device, { capacity: P, pageSize: P, pinLimit: 2 * P }), error: InvalidArgumentError, code: 'INVALID_ARGUMENT', fix: new RegExp(`use a pinLimit of at most ${P}`) },
  {
    name: 'workgroup count over maxComputeWorkgroupsPerDimension', error: InvalidArgumentError, code: 'INVALID_ARGUMENT', fix: /use a 2-D or 3-D grid/,
    call: (f) => f.space.dispatch(noop, { workgroups: f.ctx.device.limits.maxComputeWorkgroupsPerDimension + 1 }),
  },
  { name: 'more than 2^32 - 1 workgroups in all', call: (f) => f.space.dispatch(noop, { workgroups: [65535, 65535, 2] }), error: InvalidArgumentError, code: 'INVALID_ARGUMENT', fix: /split the dispatch/ },
  {
    name: 'workgroup size over maxComputeInvocationsPerWorkgroup', error: InvalidArgumentError, code: 'INVALID_ARGUMENT', fix: /use a smaller one/,
    call: (f) => f.space.dispatch(createKernel({ label: 'wide', code: 'fn kernel(inv: VmInvocation) {}', workgroupSize: f.ctx.device.limits.maxComputeInvocationsPerWorkgroup + 1 }), { workgroups: 1 }),
  },
  { name: 'more than 64 argument words', call: (f) => f.space.dispatch(noop, { workgroups: 1, args: new Array(65).fill(0) }), error: InvalidArgumentError, code: 'INVALID_ARGUMENT', fix: /at most 64 argument words/ },
  { name: 'a space over 4 GiB', call: (f) => createSpace(f.pool, { size: MAX_SPACE_SIZE + P }), error: InvalidArgumentError, code: 'INVALID_ARGUMENT', fix: /use several spaces/ },
  {
    name: 'a pool needing more windows than the device can bind', call: (f) => createPool(f.ctx.device, { capacity: 2 ** 40 }), error: PoolConfigError, code: 'POOL_CONFIG',
    fix: /use capacity ≤ \d+ or request a higher limit/,
  },
  // ---- kernels ----
  {
    name: 'a kernel that does not compile', error: KernelCompileError, code: 'KERNEL_COMPILE', fix: /^line 2:\d+: /m,
    call: (f) => f.space.dispatch(createKernel({ label: 'typo', code: 'fn kernel(inv: VmInvocation) {\n  vm_store_u32(0u, y);\n}' }), { workgroups: 1 }),
  },
  {
    name: 'a kernel over the workgroup storage limit (pipeline validation)', error: KernelCompileError, code: 'KERNEL_COMPILE', fix: /workgroup storage \(\d+ bytes\) is larger than the maximum allowed \(\d+ bytes\)/,
    call: (f) => f.space.dispatch(createKernel({
      label: 'big-shared', code: `var<workgroup> big: array<u32, ${f.ctx.device.limits.maxComputeWorkgroupStorageSize / 4 + 1}>;\nfn kernel(inv: VmInvocation) { big[inv.local_index] = 1u; }`,
    }), { workgroups: 1 }),
  },
  { name: 'a kernel without its entry function', call: () => createKernel({ label: 'main', code: 'fn main() {}' }), error: KernelCompileError, code: 'KERNEL_COMPILE', fix: /define `fn kernel\(inv: VmInvocation\)/ },
  {
    name: 'an idempotent kernel that uses atomic add', error: ReplayUnsafeError, code: 'REPLAY_UNSAFE', fix: /drop `idempotent: true`/,
    call: () => createKernel({ label: 'count', code: 'fn kernel(inv: VmInvocation) { vm_atomic_add_u32(0u, 1u); }', idempotent: true }),
  },
  { name: 'a dispatch of something that is not a kernel', call: (f) => f.space.dispatch({ label: 'fake', code: '' } as unknown as Kernel, { workgroups: 1 }), error: InvalidArgumentError, code: 'INVALID_ARGUMENT', fix: /pass a Kernel from createKernel/ },
  { name: 'a dispatch of null', call: (f) => f.space.dispatch(null as unknown as Kernel, { workgroups: 1 }), error: InvalidArgumentError, code: 'INVALID_ARGUMENT', fix: /pass a Kernel from createKernel/ },
  {
    name: 'a kernel that writes outside its space (declared)', error: AccessViolationError, code: 'ACCESS_VIOLATION', fix: /fix the address computation/,
    call: (f) => f.space.dispatch(poke, { workgroups: 1, write: [{ addr: 4 * P, byteLength: 2 * P }], args: [SIZE + 64, 1, 0] }),
    check: (e) => expect((e as AccessViolationError).violations).toEqual([{ addr: SIZE + 64, kind: 'out-of-range', invocation: [0, 0, 0] }]),
  },
  {
    name: 'a kernel that writes outside its space (demand-paged)', error: AccessViolationError, code: 'ACCESS_VIOLATION', fix: /fix the address computation/,
    call: (f) => f.space.dispatch(poke, { workgroups: 1, demand: true, args: [SIZE, 1, 0] }),
    check: (e) => expect((e as AccessViolationError).violations[0]).toMatchObject({ addr: SIZE, kind: 'out-of-range' }),
  },
  {
    name: 'a kernel that writes outside its declared ranges', error: AccessViolationError, code: 'ACCESS_VIOLATION', fix: /Declare the range in read\/write/,
    call: (f) => f.space.dispatch(poke, { workgroups: 1, write: [{ addr: 4 * P, byteLength: 2 * P }], args: [6 * P, 1, 0] }),
    check: (e) => expect((e as AccessViolationError).violations[0]).toMatchObject({ addr: 6 * P, kind: 'not-writable' }),
  },
  // ---- wrong types ----
  { name: 'write of a string', call: (f) => f.space.write(0, 'abc' as unknown as Uint8Array), error: InvalidArgumentError, code: 'INVALID_ARGUMENT', fix: /must be an ArrayBuffer or a typed array/ },
  { name: 'a float kernel argument in a plain array', call: (f) => f.space.dispatch(noop, { workgroups: 1, args: [1.5] }), error: InvalidArgumentError, code: 'INVALID_ARGUMENT', fix: /pass floats as a Float32Array/ },
  { name: 'subscribe with a callback that is not a function', call: (f) => f.space.subscribe(0, P, 5 as never), error: InvalidArgumentError, code: 'INVALID_ARGUMENT', fix: /must be a function/ },
  { name: 'a space label that is not a string', call: (f) => createSpace(f.pool, { size: P, label: 5 as never }), error: InvalidArgumentError, code: 'INVALID_ARGUMENT', fix: /label must be a string/ },
  { name: 'an unknown pool option', call: (f) => createPool(f.ctx.device, { capcity: P } as never), error: InvalidArgumentError, code: 'INVALID_ARGUMENT', fix: /known options: capacity/ },
];

describe('hostile input: a typed error naming the fix, and the space unchanged', () => {
  for (const row of rows) {
    testWithDevice(row.name, async (ctx) => {
      const f = await fixture(ctx);
      const before = snapshot(f);
      const err = await Promise.resolve().then(() => row.call(f)).then(() => undefined, (e: unknown) => e);
      expect(err, 'the call must fail').toBeInstanceOf(row.error);
      const e = err as HmmError;
      expect(e.code).toBe(row.code);
      expect(e.message).toMatch(row.fix);
      row.check?.(e, f);
      expect(snapshot(f)).toEqual(before);
      f.space.checkInvariants();
      expect(await f.space.read(0, SIZE)).toEqual(new Uint8Array(f.ref.buffer));
    });
  }
  test('the table has at least 15 rows', () => expect(rows.length).toBeGreaterThanOrEqual(15));
});

describe('the accepted side of each limit', () => {
  testWithDevice('exactly at the limits: end of the space, pin limit, 64 args, max workgroups, max workgroup size, 4 KiB and 2 MiB pages', async (ctx) => {
    const f = await fixture(ctx);
    await f.space.write(SIZE - 4, new Uint32Array([9]));
    expect(await f.space.read(SIZE - 4, 4)).toEqual(new Uint8Array([9, 0, 0, 0]));
    expect(await f.space.read(SIZE, 0)).toEqual(new Uint8Array(0));
    await f.space.pin(9 * P, P); // now exactly at the 2-page limit
    expect(f.pool.stats().pinnedBytes).toBe(2 * P);
    const L = ctx.device.limits;
    await f.space.dispatch(noop, { workgroups: 1, args: new Array(64).fill(0) });
    await f.space.dispatch(noop, { workgroups: [L.maxComputeWorkgroupsPerDimension, 1] });
    await f.space.dispatch(createKernel({ code: 'fn kernel(inv: VmInvocation) {}', workgroupSize: L.maxComputeInvocationsPerWorkgroup }), { workgroups: 1 });
    for (const pageSize of [4096, 2 * 1024 * 1024]) {
      const pool = ctx.track(await createPool(ctx.device, { capacity: pageSize, pageSize }));
      expect(pool.pageSize).toBe(pageSize);
    }
    f.space.checkInvariants();
  });

  testWithDevice('a space of exactly 4 GiB is accepted and addresses its last word', async (ctx) => {
    const pool = ctx.track(await createPool(ctx.device, { capacity: 2 * 1024 * 1024, pageSize: 1024 * 1024 }));
    const space = ctx.track(createSpace(pool, { size: MAX_SPACE_SIZE }));
    await space.write(MAX_SPACE_SIZE - 4, new Uint32Array([0xdeadbeef]));
    await space.dispatch(affine, { workgroups: 1, write: [{ addr: MAX_SPACE_SIZE - 4, byteLength: 4 }], args: [MAX_SPACE_SIZE - 4, 1, 1, 1] });
    expect(new Uint32Array((await space.read(MAX_SPACE_SIZE - 4, 4)).buffer)[0]).toBe(0xdeadbef0);
  });
});
