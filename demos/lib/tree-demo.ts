// The tree demo's run, without the page: shared by demos/node/tree.ts, tree.html and the browser
// test. Prints its lines through `log`.

import { createKernel, createPool, createSpace } from '../../src/index.ts';
import { bstKeys, bstLookup, bstQueries, buildBst, checkLookups, Node } from './bst.ts';

const MiB = 1024 * 1024;

export interface TreeOptions {
  readonly nodes: number;
  readonly queries: number;
  readonly poolBytes: number;
  readonly pageSize: number;
  /** Run the lookup as a transaction instead of an idempotent replay. */
  readonly transaction: boolean;
}

export const TREE_DEFAULTS: TreeOptions = { nodes: 65536, queries: 8192, poolBytes: 1 * MiB, pageSize: 4096, transaction: false };

export interface TreeOutcome {
  readonly ok: boolean;
  readonly lookups: number;
  readonly hits: number;
  readonly mismatches: number;
  readonly mode: string;
  readonly passes: number;
  readonly pagesFaulted: number;
  readonly evictions: number;
  /** Whole run (build, dispatch, read back, check), ms. */
  readonly ms: number;
  /** One line for the status element. */
  readonly summary: string;
}

export async function runTreeDemo(device: GPUDevice, o: TreeOptions, log: (line: string) => void): Promise<TreeOutcome> {
  const { nodes, queries: qn, pageSize, poolBytes } = o;
  const treeBytes = nodes * Node.size;
  const spaceBytes = Math.ceil((treeBytes + qn * 8 + 4 * pageSize) / pageSize) * pageSize;
  const start = performance.now();
  const pool = await createPool(device, { capacity: poolBytes, pageSize, label: 'tree-pool' });
  try {
    const space = createSpace(pool, { size: spaceBytes, label: 'tree' });
    try {
      const t0 = performance.now();
      const tree = await buildBst(space, bstKeys(nodes));
      const tBuild = performance.now() - t0;
      log(`tree: ${nodes} nodes of ${Node.size} bytes (${(treeBytes / MiB).toFixed(1)} MiB) built in JS in ${(tBuild / 1000).toFixed(2)} s; ` +
        `pool ${(poolBytes / MiB).toFixed(3).replace(/\.?0+$/, '')} MiB of ${pageSize / 1024} KiB pages (the tree is ${(treeBytes / poolBytes).toFixed(1)}× the pool)`);
      const queries = bstQueries(tree, qn);
      const q = space.alloc(qn * 4);
      const out = space.alloc(qn * 4);
      await space.write(q, queries);
      const kernel = o.transaction
        ? bstLookup
        : createKernel({ label: bstLookup.label, workgroupSize: 64, structs: [Node], code: bstLookup.code, idempotent: true });
      const r = await space.dispatch(kernel, { workgroups: Math.ceil(qn / 64), args: [tree.root, q, out, qn], demand: true });
      const results = new Float32Array((await space.read(out, qn * 4)).slice().buffer);
      const check = checkLookups(tree, queries, results);
      const d = r.demand!;
      log(`${qn} lookups in ${r.ms.toFixed(0)} ms, ${r.mode} mode: ${d.passes} passes, ${d.slices} slice(s), ` +
        `${d.faultBatches} fault batches (${d.overflows} overflowed), ${d.pagesFaulted} pages faulted + ${d.pagesPrefetched} hinted, ` +
        `${r.evictions} evictions`);
      log(`results: ${check.hits} keys found, ${qn - check.hits} absent; ${check.mismatches} mismatches against the host Map`);
      const ok = check.mismatches === 0;
      return {
        ok, lookups: qn, hits: check.hits, mismatches: check.mismatches, mode: r.mode, passes: d.passes,
        pagesFaulted: d.pagesFaulted, evictions: r.evictions, ms: performance.now() - start,
        summary: `${ok ? 'ok' : 'FAILED'}: ${qn} lookups, ${check.hits} found, ${check.mismatches} mismatches against the host Map`,
      };
    } finally {
      space.destroy();
    }
  } finally {
    pool.destroy();
  }
}
