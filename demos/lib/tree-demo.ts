// The tree demo's run, without the page: shared by demos/node/tree.ts, tree.html and the tests.
//
// A binary search tree is built in JavaScript inside the space (child
// pointers are virtual addresses) and looked up by one GPU invocation per
// query, in demand mode: no one can declare which pages a walk touches. The
// kernel reads the tree and writes only its own result slot, so it may run
// as an idempotent kernel ('replay': only faulted workgroups run again) or as
// a transaction. Every result is checked against a host Map.

import { createKernel } from '../../src/index.ts';
import { bstKeys, bstLookup, bstQueries, buildBst, checkLookups, Node } from './bst.ts';
import { fmtMiB } from './format.ts';
import { phase, withPoolAndSpace, type DemoHooks, type DemoOutcome, type PoolChoice } from './hooks.ts';

const MiB = 1024 * 1024;

export type TreeMode = 'replay' | 'transaction';
export const TREE_MODES: readonly TreeMode[] = ['replay', 'transaction'];

export interface TreeOptions extends PoolChoice {
  readonly nodes: number;
  readonly queries: number;
  readonly mode: TreeMode;
}

// The page's defaults: the tree (2 MiB) twice the pool, about 3.5 s on SwiftShader.
export const TREE_DEFAULTS: TreeOptions = { nodes: 131072, queries: 8192, poolBytes: 1 * MiB, pageSize: 4096, mode: 'replay', uploadPath: 'auto' };

export interface TreeOutcome extends DemoOutcome {
  readonly lookups: number;
  readonly hits: number;
  readonly mismatches: number;
  readonly mode: string;
  readonly passes: number;
  readonly pagesFaulted: number;
  readonly evictions: number;
}

const replayLookup = createKernel({ label: bstLookup.label, workgroupSize: 64, structs: [Node], code: bstLookup.code, idempotent: true });

export async function runTreeDemo(device: GPUDevice, o: TreeOptions, hooks: DemoHooks = {}): Promise<TreeOutcome> {
  if (!TREE_MODES.includes(o.mode)) throw new Error(`mode: "${o.mode}" is not one of ${TREE_MODES.join(', ')}`);
  const log = (line: string) => hooks.log?.(line);
  const { nodes, queries: qn, pageSize, poolBytes } = o;
  const treeBytes = nodes * Node.size;
  const start = performance.now();
  const steps = phase(hooks, 'build, look up, check', 3);
  return withPoolAndSpace(device, o, { size: treeBytes + qn * 8 + 4 * pageSize, label: 'tree' }, hooks, async (space, pool) => {
    const t0 = performance.now();
    const tree = await buildBst(space, bstKeys(nodes));
    const tBuild = performance.now() - t0;
    const ratio = treeBytes / pool.capacity;
    log(`tree: ${nodes} nodes of ${Node.size} bytes (${(treeBytes / MiB).toFixed(1)} MiB) built in JS in ${(tBuild / 1000).toFixed(2)} s; ` +
      `pool ${fmtMiB(poolBytes)} MiB of ${pageSize / 1024} KiB pages (the tree is ${ratio.toFixed(1)}× the pool)`);
    const queries = bstQueries(tree, qn);
    const q = space.alloc(qn * 4, { label: 'queries' });
    const out = space.alloc(qn * 4, { label: 'results' });
    await space.write(q, queries);
    steps(1);
    const kernel = o.mode === 'transaction' ? bstLookup : replayLookup;
    const r = await space.dispatch(kernel, { workgroups: Math.ceil(qn / 64), args: [tree.root, q, out, qn], demand: true });
    steps(2);
    const results = new Float32Array((await space.read(out, qn * 4)).slice().buffer);
    const check = checkLookups(tree, queries, results);
    steps(3);
    const d = r.demand!;
    log(`${qn} lookups in ${r.ms.toFixed(0)} ms, ${r.mode} mode: ${d.passes} passes, ${d.slices} slice(s), ` +
      `${d.faultBatches} fault batches, ${d.pagesFaulted} pages faulted + ${d.pagesPrefetched} hinted, ` +
      `${r.evictions} evictions`);
    log(`results: ${check.hits} keys found, ${qn - check.hits} absent; ${check.mismatches} mismatches against the host Map`);
    const ok = check.mismatches === 0;
    return {
      ok, lookups: qn, hits: check.hits, mismatches: check.mismatches, mode: r.mode, passes: d.passes,
      pagesFaulted: d.pagesFaulted, evictions: r.evictions, ms: performance.now() - start,
      stats: pool.stats(), dataBytes: treeBytes, ratio,
      summary: `${ok ? 'ok' : 'FAILED'}: ${qn} lookups, ${check.hits} found, ${check.mismatches} mismatches against the host Map`,
    };
  });
}
