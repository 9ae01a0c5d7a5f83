// Property: for random data, pool sizes and grid sizes, a non-idempotent
// kernel (in-place update + atomic histogram + append) run demand-paged gives
// exactly the result of the same computation on the CPU, whatever slicing,
// aborts and evictions it took to get there.

import fc from 'fast-check';
import { expect } from 'vitest';
import { testWithDevice, KiB } from '../helpers/gpu.ts';
import { makeSpace, u32 } from '../helpers/space.ts';
import { createKernel } from '../../src/index.ts';

const BINS = 32;
const mixed = createKernel({
  label: 'mixed',
  workgroupSize: 32,
  code: /* wgsl */ `
// args: data, n, hist, list
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x;
  if (i >= vm_arg_u32(1u)) { return; }
  let a = vm_arg_u32(0u) + i * 4u;
  let v = vm_load_u32(a);
  vm_store_u32(a, v * 5u + 1u);
  vm_atomic_add_u32(vm_arg_u32(2u) + (v % ${BINS}u) * 4u, v & 0xffu);
  if ((v & 3u) == 0u) {
    let slot = vm_atomic_add_u32(vm_arg_u32(3u), 1u);
    vm_store_u32(vm_arg_u32(3u) + 4u + slot * 4u, i);
  }
}`,
});

testWithDevice('demand-paged non-idempotent kernels equal one clean run for random sizes (fast-check)', async (ctx) => {
  await fc.assert(
    fc.asyncProperty(
      fc.integer({ min: 1, max: 24_000 }),
      fc.integer({ min: 8, max: 40 }),
      fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      async (n, frames, seed) => {
        const pageSize = 4 * KiB;
        const dataPages = Math.ceil((n * 4) / pageSize);
        const listPages = Math.ceil((n * 4 + 4) / pageSize);
        const size = (dataPages + listPages + 2) * pageSize;
        const { space, pool } = await makeSpace(ctx, { capacity: frames * pageSize, pageSize }, size);
        try {
          const data = 0;
          const hist = dataPages * pageSize;
          const list = hist + pageSize;
          const input = new Uint32Array(n);
          let x = seed >>> 0;
          for (let i = 0; i < n; i++) input[i] = x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
          await space.write(data, input);
          await space.dispatch(mixed, { workgroups: Math.ceil(n / 32), args: [data, n, hist, list], demand: true });
          const wantHist = new Uint32Array(BINS);
          const wantList: number[] = [];
          for (let i = 0; i < n; i++) {
            const v = input[i]!;
            wantHist[v % BINS] = (wantHist[v % BINS]! + (v & 0xff)) >>> 0;
            if ((v & 3) === 0) wantList.push(i);
          }
          const got = u32(await space.read(data, n * 4));
          for (let i = 0; i < n; i++) if (got[i] !== ((Math.imul(input[i]!, 5) + 1) >>> 0)) return false;
          expect([...u32(await space.read(hist, BINS * 4))]).toEqual([...wantHist]);
          const count = u32(await space.read(list, 4))[0]!;
          expect(count).toBe(wantList.length);
          const items = count ? [...u32(await space.read(list + 4, count * 4))].sort((a, b) => a - b) : [];
          expect(items).toEqual(wantList);
          space.checkInvariants();
          return true;
        } finally {
          space.destroy();
          pool.destroy();
        }
      },
    ),
    { numRuns: Number(process.env.HMM_PROP_RUNS ?? 8), seed: Number(process.env.HMM_PROP_SEED ?? 20261121) },
  );
});
