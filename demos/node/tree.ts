// Demo: a binary search tree built in JavaScript, queried by many GPU
// invocations at once, demand-paged, on Node + Dawn.
//
// The tree lives in a virtual address space as `Node` structs whose child
// pointers are virtual addresses (defineStruct: one layout for host and WGSL).
// The lookup kernel walks it from the root; no one declares which pages it
// will touch, so every dispatch runs in demand mode — and, since the kernel
// only reads the tree and writes its own result slot, as an idempotent kernel
// (replay mode) or, with --transaction, as a transaction. Every result is
// checked against a host Map.
//
// Usage: npm run demo:tree -- [--nodes N] [--queries N] [--pool MiB] [--page KiB] [--transaction]

import { parseArgs } from 'node:util';
import { createKernel, createPool, createSpace } from '../../src/index.ts';
import { requestNodeDevice } from '../../src/node.ts';
import { bstKeys, bstLookup, bstQueries, buildBst, checkLookups, Node } from '../lib/bst.ts';

const MiB = 1024 * 1024;
const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '1000000' },
    queries: { type: 'string', default: '65536' },
    pool: { type: 'string', default: '8' },
    page: { type: 'string', default: '4' },
    transaction: { type: 'boolean', default: false },
  },
});
const nodes = Number(values.nodes);
const qn = Number(values.queries);
const pageSize = Number(values.page) * 1024;
const poolBytes = Number(values.pool) * MiB;
const treeBytes = nodes * Node.size;
const spaceBytes = Math.ceil((treeBytes + qn * 8 + 4 * pageSize) / pageSize) * pageSize;

const node = await requestNodeDevice();
try {
  const pool = await createPool(node.device, { capacity: poolBytes, pageSize });
  const space = createSpace(pool, { size: spaceBytes, label: 'tree' });
  const t0 = performance.now();
  const tree = await buildBst(space, bstKeys(nodes));
  const tBuild = performance.now() - t0;
  console.log(`tree: ${nodes} nodes of ${Node.size} bytes (${(treeBytes / MiB).toFixed(1)} MiB) built in JS in ${(tBuild / 1000).toFixed(2)} s; ` +
    `pool ${values.pool} MiB of ${pageSize / 1024} KiB pages (the tree is ${(treeBytes / poolBytes).toFixed(1)}× the pool)`);
  const queries = bstQueries(tree, qn);
  const q = space.alloc(qn * 4);
  const out = space.alloc(qn * 4);
  await space.write(q, queries);
  const kernel = values.transaction ? bstLookup : createKernel({ label: bstLookup.label, workgroupSize: 64, structs: [Node], code: bstLookup.code, idempotent: true });
  const r = await space.dispatch(kernel, { workgroups: Math.ceil(qn / 64), args: [tree.root, q, out, qn], demand: true });
  const results = new Float32Array((await space.read(out, qn * 4)).buffer);
  const check = checkLookups(tree, queries, results);
  const d = r.demand!;
  console.log(`${qn} lookups in ${r.ms.toFixed(0)} ms, ${r.mode} mode: ${d.passes} passes, ${d.slices} slice(s), ` +
    `${d.faultBatches} fault batches (${d.overflows} overflowed), ${d.pagesFaulted} pages faulted + ${d.pagesPrefetched} hinted, ` +
    `${r.evictions} evictions`);
  console.log(`results: ${check.hits} keys found, ${qn - check.hits} absent; ${check.mismatches} mismatches against the host Map`);
  if (check.mismatches > 0) process.exitCode = 1;
  space.destroy();
  pool.destroy();
} finally {
  node.destroy();
}
