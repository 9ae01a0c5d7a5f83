// Isolation (docs/design.md §2.3, issue 6 item 6): two spaces share one pool, with
// known, distinct contents. Adversarial kernels on space A load, store and
// atomically add at addresses spread over the whole u32 range — every MiB of
// it, both ends of every page of A, the last word, 0xfffffffc, just past the
// end of A, misaligned ones, and the numbers of the frames B's pages occupy —
// in declared and demand mode, and after A's frames were taken by eviction or
// dropped by a host write and handed to B (stale frames). Checked: B's bytes
// are unchanged, A's kernel read only A's own data or zeros, its refused
// accesses were not carried out, and each was reported with its address, kind
// and invocation. And through kernel source (issue 13 item 1): kernels that
// call the prelude's raw word accessors, forge its translation cache, bind a
// pool window or shadow a builtin the prelude calls are refused before they
// run, in both modes (each was measured to corrupt B, or read B into A, before
// the source rules).

import { expect } from 'vitest';
import { testWithDevice, KiB } from '../helpers/gpu.ts';
import { affine, coreOf, u32 } from '../helpers/space.ts';
import {
  AccessViolationError, createKernel, createPool, createSpace, KernelCompileError, type AddressSpace, type Pool, type Violation,
} from '../../src/index.ts';

const P = 4 * KiB;
const PAGES = 32;
const SIZE = PAGES * P;
const MARK = 0xdead0000;

/** args: list, count, out. Invocation i takes address list[i], copies the word there to out[i], stores a marker there and adds 1. */
const prober = createKernel({
  label: 'prober',
  // Small workgroups: in demand mode each workgroup's pages must fit the pool on their own.
  workgroupSize: 8,
  code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x;
  if (i >= vm_arg_u32(1u)) { return; }
  let a = vm_load_u32(vm_arg_u32(0u) + i * 4u);
  vm_store_u32(vm_arg_u32(2u) + i * 4u, vm_load_u32(a));
  vm_store_u32(a, ${MARK}u ^ i);
  vm_atomic_add_u32(a, 1u);
}`,
});

/** A's layout: the address list and the output (the kernel's own operands) and, in declared mode, one writable and one read-only page. */
const LIST = 20 * P;
const OUT = 26 * P;
const WRITABLE = 8;
const READ_ONLY = 12;
const OPERAND_PAGES = new Set([20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31]);

const patternA = (i: number) => (0xa0000000 | i) >>> 0;
const patternB = (i: number) => (0xb0000000 | (i * 7)) >>> 0;

/** Target addresses: unique, none on the kernel's own operand pages. */
function targets(bFrames: readonly number[]): number[] {
  const t = new Set<number>();
  for (let k = 0; k < 4096; k++) t.add(k * 0x10_0000); // every MiB of the 4 GiB range
  for (let p = 0; p < PAGES; p++) {
    t.add(p * P); // both ends of every page
    t.add(p * P + P - 4);
  }
  for (const a of [SIZE - 4, SIZE, SIZE + 4, SIZE + P, 0xfffffffc, 0xfffffff0, 0x80000000, 0x7ffffffc, 0xffff0000, 1, SIZE - 2, 0xffffffff, 2 * P + 6]) t.add(a);
  for (const f of bFrames) t.add(f * P + 8); // where B's data sits in the pool, taken as A's addresses
  return [...t].filter((a) => !OPERAND_PAGES.has(Math.floor(a / P)) || a >= SIZE).sort((a, b) => a - b);
}

interface Expected {
  count: number;
  kinds: Map<number, readonly string[]>;
  out: Uint32Array;
  a: Uint32Array;
}

/** What the prober must do to A (whose words are `a`), per the prelude's rules, in declared or demand mode. */
function expected(list: readonly number[], a: Uint32Array, demand: boolean): Expected {
  const out = new Uint32Array(list.length);
  const after = a.slice();
  const kinds = new Map<number, readonly string[]>();
  let count = 0;
  list.forEach((t, i) => {
    const page = Math.floor(t / P);
    let k: string[];
    if (t % 4 !== 0) k = ['misaligned', 'misaligned', 'misaligned'];
    else if (t >= SIZE) k = ['out-of-range', 'out-of-range', 'out-of-range'];
    else if (demand || page === WRITABLE) k = [];
    else if (page === READ_ONLY) k = ['not-writable', 'not-writable'];
    else k = ['not-readable', 'not-writable', 'not-writable'];
    if (k[0] !== 'not-readable' && k[0] !== 'misaligned' && k[0] !== 'out-of-range') out[i] = a[t / 4]!;
    if (k.length === 0) after[t / 4] = ((MARK ^ i) + 1) >>> 0;
    count += k.length;
    kinds.set(t, k);
  });
  return { count, kinds, out, a: after };
}

async function setUp(ctx: Parameters<Parameters<typeof testWithDevice>[1]>[0], frames: number): Promise<{ pool: Pool; a: AddressSpace; b: AddressSpace }> {
  const pool = ctx.track(await createPool(ctx.device, { capacity: frames * P, pageSize: P }));
  const a = ctx.track(createSpace(pool, { size: SIZE, label: 'A', strict: true }));
  const b = ctx.track(createSpace(pool, { size: SIZE, label: 'B', strict: true }));
  await a.write(0, new Uint32Array(SIZE / 4).map((_, i) => patternA(i)));
  await b.write(0, new Uint32Array(SIZE / 4).map((_, i) => patternB(i)));
  return { pool, a, b };
}

/** B's pages 0–7 on the device, written there (device-dirty): a[i] = a[i] * 1 + 1. Returns B's expected words. */
async function warmB(b: AddressSpace): Promise<Uint32Array> {
  await b.dispatch(affine, { workgroups: 128, write: [{ addr: 0, byteLength: 8 * P }], args: [0, (8 * P) / 4, 1, 1] });
  return new Uint32Array(SIZE / 4).map((_, i) => (i < (8 * P) / 4 ? patternB(i) + 1 : patternB(i)) >>> 0);
}

function framesOf(space: AddressSpace): number[] {
  const t = coreOf(space).table;
  return Array.from({ length: t.pageCount }, (_, p) => t.frame[p]!).filter((f) => f !== 0xffffffff);
}

function checkViolations(e: AccessViolationError, list: readonly number[], want: Expected): void {
  expect(e.count).toBe(want.count);
  // 32 listed per pass kept: one in declared mode, one commit per slice in demand mode.
  expect(e.violations.length).toBeGreaterThanOrEqual(Math.min(32, want.count));
  expect(e.violations.length).toBeLessThanOrEqual(want.count);
  for (const v of e.violations as Violation[]) {
    const i = list.indexOf(v.addr);
    expect(i, `reported address ${v.addr} is one the kernel used`).toBeGreaterThanOrEqual(0);
    expect(want.kinds.get(v.addr)).toContain(v.kind);
    expect(v.invocation).toEqual([i, 0, 0]);
  }
}

for (const demand of [false, true]) {
  testWithDevice(`${demand ? 'demand' : 'declared'} mode: loads, stores and atomics across the whole u32 range reach only A's own pages`, async (ctx) => {
    const { a, b } = await setUp(ctx, 16);
    const bWords = await warmB(b);
    const bFrames = framesOf(b);
    expect(bFrames.length).toBe(8);
    const list = targets(bFrames);
    expect(list.length).toBeGreaterThan(4096);
    await a.write(LIST, new Uint32Array(list));
    const before = u32(await a.read(0, SIZE)).slice();
    const want = expected(list, before, demand);
    const ranges = demand ? {} : {
      read: [{ addr: LIST, byteLength: list.length * 4 }, { addr: READ_ONLY * P, byteLength: P }],
      write: [{ addr: OUT, byteLength: list.length * 4 }, { addr: WRITABLE * P, byteLength: P }],
    };
    const e = await a.dispatch(prober, { workgroups: Math.ceil(list.length / 8), args: [LIST, list.length, OUT], demand, ...ranges })
      .then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(AccessViolationError);
    checkViolations(e as AccessViolationError, list, want);
    // A: what the kernel loaded was A's own data or zero; stores and atomics landed only where allowed.
    expect([...u32(await a.read(OUT, list.length * 4))]).toEqual([...want.out]);
    const aAfter = u32(await a.read(0, SIZE));
    want.a.set(aAfter.subarray(LIST / 4, (OUT + list.length * 4) / 4), LIST / 4); // the operands: checked above
    expect(firstMismatch(aAfter, want.a)).toBe(-1);
    // B: every byte as B left it, its device-dirty pages included (some were evicted by A's fault-in).
    expect(firstMismatch(u32(await b.read(0, SIZE)), bWords)).toBe(-1);
    a.checkInvariants();
  }, 180_000);
}

/** args: list of (low, high) word pairs, count, out. As the prober, by a 64-bit pointer. */
const ptrProber = createKernel({
  label: 'ptr-prober',
  workgroupSize: 8,
  code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x;
  if (i >= vm_arg_u32(1u)) { return; }
  let w = vm_load_vec2u(vm_arg_u32(0u) + i * 8u);
  let p = vm_ptr(w.y, w.x);
  vm_store_u32(vm_arg_u32(2u) + i * 4u, vm_ptr_load_u32(p));
  vm_ptr_store_u32(p, ${MARK}u ^ i);
  vm_ptr_atomic_add_u32(p, 1u);
}`,
});

for (const demand of [false, true]) {
  testWithDevice(`${demand ? 'demand' : 'declared'} mode: 64-bit pointers whose low word names A's pages or B's frames reach nothing`, async (ctx) => {
    const { a, b } = await setUp(ctx, 16);
    const bWords = await warmB(b);
    const lows = targets(framesOf(b)).filter((x) => x < SIZE || x % 0x100_0000 === 0).slice(0, 120);
    const pairs: [number, number][] = [];
    for (const hi of [1, 2, 0x1000, 0xffff_ffff]) for (const lo of lows) pairs.push([lo, hi]);
    await a.write(LIST, new Uint32Array(pairs.flat()));
    const before = u32(await a.read(0, SIZE)).slice();
    const ranges = demand ? {} : { read: [{ addr: LIST, byteLength: pairs.length * 8 }], write: [{ addr: OUT, byteLength: pairs.length * 4 }] };
    const e = await a.dispatch(ptrProber, { workgroups: Math.ceil(pairs.length / 8), args: [LIST, pairs.length, OUT], demand, ...ranges })
      .then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(AccessViolationError);
    const av = e as AccessViolationError;
    expect(av.count).toBe(3 * pairs.length);
    const full = pairs.map(([lo, hi]) => lo + hi * 2 ** 32);
    for (const v of av.violations) {
      expect(v.kind).toBe('out-of-range');
      expect(full.indexOf(v.addr), `reported address ${v.addr} is one the kernel used`).toBe(v.invocation[0]);
    }
    // Every load gave 0; A changed only in its output; B not at all.
    expect([...u32(await a.read(OUT, pairs.length * 4))]).toEqual(new Array(pairs.length).fill(0));
    const aAfter = u32(await a.read(0, SIZE));
    before.set(aAfter.subarray(OUT / 4, OUT / 4 + pairs.length), OUT / 4);
    expect(firstMismatch(aAfter, before)).toBe(-1);
    expect(firstMismatch(u32(await b.read(0, SIZE)), bWords)).toBe(-1);
  }, 180_000);
}

function firstMismatch(got: Uint32Array, want: Uint32Array): number {
  for (let i = 0; i < want.length; i++) if (got[i] !== want[i]) return i;
  return got.length === want.length ? -1 : want.length;
}

/** args: base, count, out: out[i] = load(base + i * 4) — a plain reader. */
const reader = createKernel({
  label: 'reader',
  code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x;
  if (i >= vm_arg_u32(1u)) { return; }
  vm_store_u32(vm_arg_u32(2u) + i * 4u, vm_load_u32(vm_arg_u32(0u) + i * 4u));
}`,
});

testWithDevice('stale frames after eviction: A reading pages whose frames B took gets A’s data (or, undeclared, zeros and violations), never B’s', async (ctx) => {
  const { a, b } = await setUp(ctx, 8);
  const n = (4 * P) / 4;
  await a.dispatch(reader, { workgroups: n / 64, read: [{ addr: 0, byteLength: 4 * P }], write: [{ addr: 8 * P, byteLength: 4 * P }], args: [0, n, 8 * P] });
  const aFrames = framesOf(a);
  // B takes every frame, writing into them: A's pages 0–3 lose theirs (A's PTEs must not keep pointing there).
  await b.dispatch(affine, { workgroups: 128, write: [{ addr: 0, byteLength: 8 * P }], args: [0, (8 * P) / 4, 1, 1] });
  expect(framesOf(a)).toEqual([]);
  expect(framesOf(b).sort()).toEqual([...aFrames, ...framesOf(b).filter((f) => !aFrames.includes(f))].sort());
  // Undeclared: every load refused, nothing of B's read.
  const e = await a.dispatch(reader, { workgroups: n / 64, write: [{ addr: 16 * P, byteLength: 4 * P }], args: [0, n, 16 * P] })
    .then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(AccessViolationError);
  expect((e as AccessViolationError).count).toBe(n);
  expect((e as AccessViolationError).violations.every((v) => v.kind === 'not-readable' && v.addr < 4 * P)).toBe(true);
  expect(u32(await a.read(16 * P, 4 * P)).every((x) => x === 0)).toBe(true);
  // Declared, and demand-paged: faulted in again, A's own data.
  await a.dispatch(reader, { workgroups: n / 64, read: [{ addr: 0, byteLength: 4 * P }], write: [{ addr: 16 * P, byteLength: 4 * P }], args: [0, n, 16 * P] });
  expect(u32(await a.read(16 * P, 4 * P)).every((x, i) => x === patternA(i))).toBe(true);
  await b.dispatch(affine, { workgroups: 128, write: [{ addr: 0, byteLength: 8 * P }], args: [0, (8 * P) / 4, 1, 1] });
  await a.dispatch(reader, { workgroups: n / 64, args: [0, n, 16 * P], demand: true });
  expect(u32(await a.read(16 * P, 4 * P)).every((x, i) => x === patternA(i))).toBe(true);
  expect(u32(await b.read(0, 8 * P)).every((x, i) => x === patternB(i) + 2)).toBe(true);
  a.checkInvariants();
});

testWithDevice('stale frames after a host write: the frame A’s write dropped goes to B; A’s next dispatch sees A’s new bytes, B keeps its own', async (ctx) => {
  const { a, b } = await setUp(ctx, 4);
  const n = P / 4;
  await a.dispatch(reader, { workgroups: n / 64, read: [{ addr: 0, byteLength: P }], write: [{ addr: P, byteLength: P }], args: [0, n, P] });
  const f = coreOf(a).table.frame[0]!;
  await a.write(0, new Uint32Array(n).fill(0x5eed)); // page 0 whole: its device copy is dropped, frame f is free
  expect(coreOf(a).table.frame[0]).toBe(0xffffffff);
  // B's next dispatch takes the whole pool: f among it, filled with B's bytes.
  await b.dispatch(affine, { workgroups: 64, write: [{ addr: 0, byteLength: 4 * P }], args: [0, P, 1, 1] });
  expect(framesOf(b)).toContain(f);
  // A, undeclared: refused (no stale translation to f); declared: A's new bytes; demand: the same.
  const e = await a.dispatch(reader, { workgroups: n / 64, write: [{ addr: 2 * P, byteLength: P }], args: [0, n, 2 * P] })
    .then(() => undefined, (x: unknown) => x);
  expect(e).toBeInstanceOf(AccessViolationError);
  expect(u32(await a.read(2 * P, P)).every((x) => x === 0)).toBe(true);
  await a.dispatch(reader, { workgroups: n / 64, read: [{ addr: 0, byteLength: P }], write: [{ addr: 2 * P, byteLength: P }], args: [0, n, 2 * P] });
  expect(u32(await a.read(2 * P, P)).every((x) => x === 0x5eed)).toBe(true);
  await a.dispatch(reader, { workgroups: n / 64, args: [0, n, 3 * P], demand: true });
  expect(u32(await a.read(3 * P, P)).every((x) => x === 0x5eed)).toBe(true);
  expect(u32(await b.read(0, 4 * P)).every((x, i) => x === patternB(i) + 1)).toBe(true);
  a.checkInvariants();
});

testWithDevice('a pinned page written by the host is refreshed in place: its frame never serves stale bytes, to A or to B', async (ctx) => {
  const { a, b } = await setUp(ctx, 4);
  const n = P / 4;
  await a.pin(0, P);
  const f = coreOf(a).table.frame[0]!;
  await a.write(100, new Uint8Array([1, 2, 3])); // write-through into frame f (bytes 100–102)
  await b.dispatch(affine, { workgroups: 32, write: [{ addr: 0, byteLength: 2 * P }], args: [0, (2 * P) / 4, 1, 1] }); // cannot take f
  expect(framesOf(b)).not.toContain(f);
  await a.dispatch(reader, { workgroups: n / 64, read: [{ addr: 0, byteLength: P }], write: [{ addr: P, byteLength: P }], args: [0, n, P], expectNoFaults: false });
  expect([...u32(await a.read(P, P))]).toEqual([...u32(await a.read(0, P))]);
  expect(u32(await a.read(P + 100, 4))[0]! & 0xffffff).toBe(0x030201);
  a.unpin(0, P);
  a.checkInvariants();
});

// Kernel source (issue 13 item 1): a kernel that names the prelude's raw word
// accessors, forges its translation cache, or binds a pool window itself could
// reach every frame of the pool. Each attack is tried in full — created and
// dispatched, as a user would — and must be refused before it runs, naming
// what it used, with B's device-dirty pages and A's bytes as they were.
const POOL_WORDS = (16 * P) / 4;
const attacks: readonly { name: string; named: string; code: string; reads?: boolean }[] = [
  {
    name: 'vm_write_word over every word of the pool',
    named: '"vm_write_word" is internal to the prelude',
    code: `fn kernel(inv: VmInvocation) { for (var g = 0u; g < ${POOL_WORDS}u; g++) { vm_write_word(g, 0u); } }`,
  },
  {
    name: 'a forged translation cache entry for each frame (vm_tc_page, vm_tc_pte)',
    named: '"vm_tc_page" is internal to the prelude',
    code: `
fn kernel(inv: VmInvocation) {
  for (var f = 0u; f < 16u; f++) {
    vm_tc_page = 0u;
    vm_tc_pte = 0xe0000000u | f;
    for (var w = 0u; w < ${P / 4}u; w++) { vm_store_u32(w * 4u, 0u); }
  }
}`,
  },
  {
    name: 'its own binding over pool window 0',
    named: '@binding(3) declares a resource binding',
    code: `
@group(0) @binding(3) var<storage, read_write> mine: array<u32>;
fn kernel(inv: VmInvocation) { for (var g = 0u; g < ${POOL_WORDS}u; g++) { mine[g] = 0u; } }`,
  },
  {
    // The prelude's vector load picks its second word with select(g + 1u, g, none): a module-scope
    // select of the user's would be called instead, and could hand it any word of the pool.
    name: 'a module-scope select that the prelude would call (reads B into A)',
    named: 'module-scope fn "select" takes a name the linked prelude uses',
    reads: true,
    code: `
var<private> pick: u32;
fn select(f: u32, t: u32, c: bool) -> u32 {
  if (f == t + 1u) { return pick; }
  if (c) { return t; }
  return f;
}
fn kernel(inv: VmInvocation) {
  for (var i = 0u; i < ${P / 4}u; i++) {
    pick = vm_arg_u32(0u) + i;
    vm_store_u32(${P}u + i * 4u, vm_load_vec2u(0u).y);
  }
}`,
  },
];

for (const demand of [false, true]) {
  testWithDevice(`${demand ? 'demand' : 'declared'} mode: kernels that name the prelude's internals or bind a pool window are refused, and B's device-dirty data is intact`, async (ctx) => {
    const { a, b } = await setUp(ctx, 16);
    const bWords = await warmB(b);
    const aWords = u32(await a.read(0, SIZE)).slice();
    for (const attack of attacks) {
      const bFirstWord = (framesOf(b)[0]! * P) / 4;
      let refused: unknown;
      try {
        const k = createKernel({ label: attack.name, code: attack.code, workgroupSize: 1 });
        const ranges = demand ? {} : attack.reads
          ? { read: [{ addr: 0, byteLength: P }], write: [{ addr: P, byteLength: P }] }
          : { write: [{ addr: 0, byteLength: P }] };
        await a.dispatch(k, { workgroups: 1, demand, args: [bFirstWord], ...ranges });
      } catch (e) {
        refused = e;
      }
      expect(refused, attack.name).toBeInstanceOf(KernelCompileError);
      expect((refused as KernelCompileError).code).toBe('KERNEL_COMPILE');
      expect((refused as KernelCompileError).message).toContain(attack.named);
      expect(firstMismatch(u32(await b.read(0, SIZE)), bWords), `B after: ${attack.name}`).toBe(-1);
      expect(firstMismatch(u32(await a.read(0, SIZE)), aWords), `A after: ${attack.name}`).toBe(-1);
    }
    a.checkInvariants();
    b.checkInvariants();
  });
}
