// Differential fuzz of a large sparse space (issue 16 item 4): a 64 GiB space
// (64-bit addresses, the two-level GPU page table, host memory in lazily made
// segments) whose data sits in a few regions below 4 GiB, above it and above
// 32 GiB, through a pool smaller than the regions together — host writes and
// reads, declared and demand dispatches by VmPtr, prefetches both ways — against
// a sparse oracle (a map of touched pages; untouched memory reads as zero).
// Twice: a plain space in strict mode, and a durable one in a memory group whose
// max the largest dispatch just fits, with a ledger and a trace recording.
// The main model (test/fuzz/model.ts) keeps its flat oracle over small spaces,
// which it compares byte for byte after every sequence; a space this size needs
// the sparse one here. One fixed seed, every run; HMM_FUZZ_SEED adds a run at
// that seed, and HMM_FUZZ_RUNS scales the number of sequences (as in
// differential.dawn.test.ts).

import fc from 'fast-check';
import { expect } from 'vitest';
import { testWithDevice, KiB } from '../helpers/gpu.ts';
import { affine64, makeSpace } from '../helpers/space.ts';
import { createGroup, createKernel, createLedger, createPool, createSpace, ptrWords, recordTrace, type AddressSpace } from '../../src/index.ts';

const GiB = 2 ** 30;
const P = 4 * KiB;
const REGION_PAGES = 6;
/** Region bases: below 4 GiB, astride 4 GiB, above it, above 32 GiB, the space's last pages. */
const SPACE = 64 * GiB;
const REGIONS = [64 * KiB, 4 * GiB - 3 * P, 5 * GiB + 7 * P, 33 * GiB, 47 * GiB + 64 * KiB, SPACE - REGION_PAGES * P];
const WORDS = (REGION_PAGES * P) / 4;

/** dst[i] = src[i] ^ key by VmPtr: args [src lo, src hi, dst lo, dst hi, n, key] (idempotent: src and dst apart). */
const xorCopy = createKernel({
  label: 'large-xor-copy', workgroupSize: 64, idempotent: true,
  code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x;
  if (i >= vm_arg_u32(4u)) { return; }
  vm_ptr_store_u32(vm_ptr_add(vm_arg_ptr(2u), i * 4u), vm_ptr_load_u32(vm_ptr_add(vm_arg_ptr(0u), i * 4u)) ^ vm_arg_u32(5u));
}`,
});
const affineReplay = affine64(true);
const affineTx = affine64(false);

/** Word ranges inside one region: [first word, count). */
const span = fc.record({ region: fc.nat(REGIONS.length - 1), first: fc.nat(WORDS - 1), count: fc.integer({ min: 1, max: 3000 }) })
  .map(({ region, first, count }) => ({ region, first, count: Math.min(count, WORDS - first) }));

type Op =
  | { readonly kind: 'write'; readonly at: { region: number; first: number; count: number }; readonly seed: number }
  | { readonly kind: 'read'; readonly at: { region: number; first: number; count: number } }
  | { readonly kind: 'affine'; readonly at: { region: number; first: number; count: number }; readonly mode: 'declared' | 'replay' | 'transaction'; readonly mul: number; readonly add: number }
  | { readonly kind: 'xor'; readonly from: number; readonly to: number; readonly first: number; readonly count: number; readonly key: number; readonly demand: boolean }
  | { readonly kind: 'prefetch'; readonly at: { region: number; first: number; count: number }; readonly to: 'device' | 'host' };

const op: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ kind: fc.constant('write' as const), at: span, seed: fc.nat() }), weight: 3 },
  { arbitrary: fc.record({ kind: fc.constant('read' as const), at: span }), weight: 2 },
  { arbitrary: fc.record({ kind: fc.constant('affine' as const), at: span, mode: fc.constantFrom('declared' as const, 'replay' as const, 'transaction' as const), mul: fc.integer({ min: 1, max: 9 }), add: fc.nat(1000) }), weight: 3 },
  {
    arbitrary: fc.record({ kind: fc.constant('xor' as const), from: fc.nat(REGIONS.length - 1), to: fc.nat(REGIONS.length - 1), first: fc.nat(WORDS - 1), count: fc.integer({ min: 1, max: WORDS }), key: fc.nat(), demand: fc.boolean() })
      .filter((o) => o.from !== o.to).map((o) => ({ ...o, count: Math.min(o.count, WORDS - o.first) })),
    weight: 2,
  },
  { arbitrary: fc.record({ kind: fc.constant('prefetch' as const), at: span, to: fc.constantFrom('device' as const, 'host' as const) }), weight: 1 },
);

/** The oracle: touched pages only; an untouched word reads as zero. */
class SparseOracle {
  readonly #pages = new Map<number, Uint32Array>();
  get(addr: number): number {
    return this.#pages.get(Math.floor(addr / P))?.[(addr % P) / 4] ?? 0;
  }
  set(addr: number, v: number): void {
    const p = Math.floor(addr / P);
    let page = this.#pages.get(p);
    if (!page) this.#pages.set(p, (page = new Uint32Array(P / 4)));
    page[(addr % P) / 4] = v >>> 0;
  }
  get pageCount(): number {
    return this.#pages.size;
  }
}

const addrOf = (region: number, word: number): number => REGIONS[region]! + word * 4;
const wordsOf = (b: Uint8Array): Uint32Array => new Uint32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));

async function runSequence(space: AddressSpace, ops: readonly Op[]): Promise<void> {
  const o = new SparseOracle();
  const check = async (addr: number, count: number, what: string): Promise<void> => {
    const got = wordsOf(await space.read(addr, count * 4));
    for (let i = 0; i < count; i++) {
      if (got[i] !== o.get(addr + i * 4)) expect.fail(`${what}: word at ${addr + i * 4} is ${got[i]}, the oracle says ${o.get(addr + i * 4)}`);
    }
  };
  for (const [step, x] of ops.entries()) {
    const what = `step ${step} (${x.kind})`;
    if (x.kind === 'write') {
      const base = addrOf(x.at.region, x.at.first);
      const data = Uint32Array.from({ length: x.at.count }, (_, i) => Math.imul(x.seed + i, 2654435761) >>> 0);
      await space.write(base, data);
      data.forEach((v, i) => o.set(base + i * 4, v));
    } else if (x.kind === 'read') {
      await check(addrOf(x.at.region, x.at.first), x.at.count, what);
    } else if (x.kind === 'affine') {
      const base = addrOf(x.at.region, x.at.first);
      const n = x.at.count;
      const kernel = x.mode === 'transaction' ? affineTx : affineReplay;
      const ranges = x.mode === 'declared' ? { write: [{ addr: base, byteLength: n * 4 }] } : { demand: true };
      await space.dispatch(kernel, { workgroups: Math.ceil(n / 64), args: [...ptrWords(base), n, x.mul, x.add], ...ranges });
      for (let i = 0; i < n; i++) o.set(base + i * 4, Math.imul(o.get(base + i * 4), x.mul) + x.add);
    } else if (x.kind === 'xor') {
      const src = addrOf(x.from, x.first);
      const dst = addrOf(x.to, x.first);
      const n = x.count;
      const ranges = x.demand ? { demand: true } : { read: [{ addr: src, byteLength: n * 4 }], write: [{ addr: dst, byteLength: n * 4 }] };
      await space.dispatch(xorCopy, { workgroups: Math.ceil(n / 64), args: [...ptrWords(src), ...ptrWords(dst), n, x.key], ...ranges });
      for (let i = 0; i < n; i++) o.set(dst + i * 4, o.get(src + i * 4) ^ x.key);
    } else {
      await space.prefetch(addrOf(x.at.region, x.at.first), x.at.count * 4, { to: x.to });
    }
  }
  // Every region in full (the pages never touched read as zero), and the page tables' invariants.
  for (const [r, base] of REGIONS.entries()) await check(base, WORDS, `region ${r} at the end`);
  space.checkInvariants();
}

const seeds = [20261207, ...(process.env.HMM_FUZZ_SEED !== undefined ? [Number(process.env.HMM_FUZZ_SEED)] : [])];
const numRuns = Math.ceil(20 * Number(process.env.HMM_FUZZ_RUNS ?? 1));

async function fuzz(space: AddressSpace): Promise<void> {
  for (const seed of seeds) {
    await fc.assert(fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 25 }), async (ops) => {
      // Each sequence starts from zeros: write them over the regions (dropping what the last left).
      for (const base of REGIONS) await space.write(base, new Uint8Array(REGION_PAGES * P));
      await runSequence(space, ops);
    }), { seed, numRuns });
  }
}

testWithDevice('differential fuzz of a 64 GiB sparse space: regions below 4 GiB, above it and above 32 GiB through a smaller pool, against a sparse oracle', async (ctx) => {
  // 16 frames under 6 regions of 6 pages: every sequence that moves several regions evicts.
  const { pool, space } = await makeSpace(ctx, { capacity: 16 * P, pageSize: P }, SPACE, { strict: true });
  await fuzz(space);
  expect(pool.stats().evictions).toBeGreaterThan(0);
}, 600_000);

testWithDevice('the same on a durable 64 GiB space in a memory group, with a ledger and a trace recording: the group max holds, nothing stays only on the device', async (ctx) => {
  const pool = ctx.track(await createPool(ctx.device, { capacity: 16 * P, pageSize: P }));
  // The largest dispatch (a copy between two regions) needs 12 pages: the group's max.
  const group = createGroup(pool, { max: 12 * P, label: 'large' });
  const large = ctx.track(createSpace(pool, { size: SPACE, durable: true, group, strict: true, label: 'large' }));
  const ledger = createLedger(large);
  const trace = recordTrace(pool);
  let most = 0;
  pool.on((e) => {
    if (e.type === 'pass' || e.type === 'migration') most = Math.max(most, group.usage().used);
  });
  await fuzz(large);
  trace.stop();
  ledger.close();
  expect(most).toBeGreaterThan(0);
  expect(most).toBeLessThanOrEqual(12 * P);
  const total = ledger.total();
  expect(total.deviceDirtyBytes).toBe(0); // durable: every dispatch wrote its pages home
  expect(total.toDevice.declared + total.toDevice.demand).toBeGreaterThan(0);
  expect(total.toHost.durable).toBeGreaterThan(0);
  expect(group.usage().evictedBySelf).toBeGreaterThan(0);
  const kinds = new Set(trace.toJSON().traceEvents.map((e) => e.name));
  expect(trace.eventCount).toBeGreaterThan(0);
  expect([...kinds].some((k) => /pass|dispatch/.test(k))).toBe(true);
}, 600_000);
