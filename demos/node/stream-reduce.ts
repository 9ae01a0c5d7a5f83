// The main demo: out-of-core streaming on Node + Dawn.
//
// A data set several times larger than the device pool lives in one virtual
// address space. Pass 1 transforms it in place on the GPU (x = x * 3 + i),
// chunk by chunk, with declared write ranges: the pool fills, and dirty pages
// are written back as they are evicted. Pass 2 reduces it (a wrapping u32 sum
// and an xor, exact in any order) with declared read ranges: clean pages are
// dropped without a copy. The host checks both against a CPU computation.
//
// Usage: npm run demo -- [--data MiB] [--pool MiB] [--page KiB] [--chunk MiB]

import { parseArgs } from 'node:util';
import { createKernel, createPool, createSpace, type PoolStats } from '../../src/index.ts';
import { requestNodeDevice } from '../../src/node.ts';

const MiB = 1024 * 1024;
const { values } = parseArgs({
  options: {
    data: { type: 'string', default: '256' },
    pool: { type: 'string', default: '64' },
    page: { type: 'string', default: '64' },
    chunk: { type: 'string', default: '8' },
  },
});
const dataBytes = Number(values.data) * MiB;
const poolBytes = Number(values.pool) * MiB;
const pageSize = Number(values.page) * 1024;
const chunkBytes = Number(values.chunk) * MiB;
const n = dataBytes / 4;
const WG = 256;

const transform = createKernel({
  label: 'transform',
  workgroupSize: WG,
  code: /* wgsl */ `
// args: base address, first element index, element count
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x + inv.global_id.y * inv.num_workgroups.x * ${WG}u;
  if (i >= vm_arg_u32(2u)) { return; }
  let a = vm_arg_u32(0u) + i * 4u;
  vm_store_u32(a, vm_load_u32(a) * 3u + vm_arg_u32(1u) + i);
}`,
});

const reduce = createKernel({
  label: 'reduce',
  workgroupSize: WG,
  code: /* wgsl */ `
var<workgroup> sums: array<u32, ${WG}>;
var<workgroup> xors: array<u32, ${WG}>;
// args: base address, element count, address of the two accumulators
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x + inv.global_id.y * inv.num_workgroups.x * ${WG}u;
  var v = 0u;
  if (i < vm_arg_u32(1u)) { v = vm_load_u32(vm_arg_u32(0u) + i * 4u); }
  sums[inv.local_index] = v;
  xors[inv.local_index] = v;
  workgroupBarrier();
  for (var s = ${WG / 2}u; s > 0u; s = s >> 1u) {
    if (inv.local_index < s) {
      sums[inv.local_index] += sums[inv.local_index + s];
      xors[inv.local_index] ^= xors[inv.local_index + s];
    }
    workgroupBarrier();
  }
  if (inv.local_index == 0u) {
    vm_atomic_add_u32(vm_arg_u32(2u), sums[0]);
    vm_atomic_xor_u32(vm_arg_u32(2u) + 4u, xors[0]);
  }
}`,
});

function grid(elements: number): [number, number] {
  const groups = Math.ceil(elements / WG);
  const x = Math.min(groups, 32768);
  return [x, Math.ceil(groups / x)];
}

/** [offset, length] of each chunk of the data set. */
function* chunks(total: number, chunk: number): Generator<[number, number]> {
  for (let off = 0; off < total; off += chunk) yield [off, Math.min(chunk, total - off)];
}

function fmtBytes(b: number): string {
  return b >= MiB ? `${(b / MiB).toFixed(1)} MiB` : `${(b / 1024).toFixed(1)} KiB`;
}

function delta(a: PoolStats, b: PoolStats) {
  return {
    pagesToDevice: b.pagesToDevice - a.pagesToDevice,
    pagesToHost: b.pagesToHost - a.pagesToHost,
    bytesToDevice: b.bytesToDevice - a.bytesToDevice,
    bytesToHost: b.bytesToHost - a.bytesToHost,
    evictions: b.evictions - a.evictions,
    writebacks: b.evictionWritebacks - a.evictionWritebacks,
    drops: b.evictionDrops - a.evictionDrops,
  };
}

const gpu = await requestNodeDevice();
try {
  const pool = await createPool(gpu.device, { capacity: poolBytes, pageSize });
  const space = createSpace(pool, { size: Math.ceil((dataBytes + pageSize) / pageSize) * pageSize, label: 'demo' });
  const base = space.alloc(dataBytes, { align: pageSize });
  const acc = space.alloc(8);
  console.log(`webgpu-hmm stream-reduce on ${gpu.adapterName}`);
  console.log(`data ${fmtBytes(dataBytes)} in a ${fmtBytes(space.size)} space; device pool ${fmtBytes(pool.capacity)} ` +
    `(${(dataBytes / pool.capacity).toFixed(1)}× oversubscribed), pages ${fmtBytes(pageSize)}, ${pool.windowCount} window(s)`);

  // Fill from JS straight into the space's host memory, and compute the CPU reference alongside.
  let t = performance.now();
  let refSum = 0;
  let refXor = 0;
  await space.withView(base, dataBytes, 'write', (view) => {
    const w = new Uint32Array(view.buffer, view.byteOffset, n);
    const chunkEl = chunkBytes / 4;
    for (let i = 0; i < n; i++) {
      const x = (Math.imul(i, 2654435761) ^ (i >>> 7)) >>> 0;
      w[i] = x;
      const local = i % chunkEl;
      const first = i - local;
      const y = (Math.imul(x, 3) + first + local) >>> 0;
      refSum = (refSum + y) >>> 0;
      refXor = (refXor ^ y) >>> 0;
    }
  });
  const tFill = performance.now() - t;

  const s0 = pool.stats();
  t = performance.now();
  for (const [off, len] of chunks(dataBytes, chunkBytes)) {
    await space.dispatch(transform, {
      workgroups: grid(len / 4), write: [{ addr: base + off, byteLength: len }], args: [base + off, off / 4, len / 4],
    });
  }
  const tTransform = performance.now() - t;
  const s1 = pool.stats();
  t = performance.now();
  for (const [off, len] of chunks(dataBytes, chunkBytes)) {
    await space.dispatch(reduce, {
      workgroups: grid(len / 4), read: [{ addr: base + off, byteLength: len }], write: [{ addr: acc, byteLength: 8 }], args: [base + off, len / 4, acc],
    });
  }
  const tReduce = performance.now() - t;
  const s2 = pool.stats();
  const out = new Uint32Array((await space.read(acc, 8)).buffer);
  // Spot-check the transformed data itself against the CPU formula (this brings dirty pages home).
  t = performance.now();
  const sample = new Uint32Array((await space.read(base, dataBytes)).buffer);
  const tRead = performance.now() - t;
  const s3 = pool.stats();
  let bad = 0;
  for (let i = 0; i < n; i += 997) {
    const x = (Math.imul(i, 2654435761) ^ (i >>> 7)) >>> 0;
    if (sample[i] !== ((Math.imul(x, 3) + i) >>> 0)) bad++;
  }
  const ok = out[0] === refSum && out[1] === refXor && bad === 0;

  const rows = [
    ['transform (write)', delta(s0, s1), tTransform],
    ['reduce (read)', delta(s1, s2), tReduce],
    ['read back', delta(s2, s3), tRead],
  ] as const;
  console.log('');
  console.log('phase              pages→dev  pages→host  bytes→dev    bytes→host   evictions (wb/drop)   time');
  for (const [name, d, ms] of rows) {
    console.log(
      `${name.padEnd(18)} ${String(d.pagesToDevice).padStart(9)}  ${String(d.pagesToHost).padStart(10)}  ${fmtBytes(d.bytesToDevice).padStart(11)}  ` +
        `${fmtBytes(d.bytesToHost).padStart(11)}  ${`${d.evictions} (${d.writebacks}/${d.drops})`.padStart(19)}  ${ms.toFixed(0).padStart(6)} ms`,
    );
  }
  const moved = s3.bytesToDevice - s0.bytesToDevice + (s3.bytesToHost - s0.bytesToHost);
  console.log('');
  console.log(`fill (JS) ${tFill.toFixed(0)} ms; GPU passes ${(tTransform + tReduce).toFixed(0)} ms; ` +
    `${fmtBytes(moved)} moved; ${s3.dispatches} dispatches`);
  console.log(`sum   GPU ${out[0]}  CPU ${refSum}`);
  console.log(`xor   GPU ${out[1]}  CPU ${refXor}`);
  console.log(`data spot-check: ${Math.ceil(n / 997) - bad}/${Math.ceil(n / 997)} samples exact`);
  console.log(ok ? 'RESULT: verified against the CPU' : 'RESULT: MISMATCH');
  space.checkInvariants();
  space.destroy();
  pool.destroy();
  process.exitCode = ok ? 0 : 1;
} finally {
  gpu.destroy();
}
