// The bench case `demand-tree` (issue 21: "pointer-chasing lookups need passes
// in the order of the structure's depth, not of the number of lookups"): the
// tree demo's lookups (demos/lib/bst.ts: a BST built in JavaScript, looked up
// by one GPU invocation a query, resumable — it saves the node it is at,
// vm_save_u32) in one demand dispatch over a tree twice the pool, against the
// same lookups with the tree resident (a pool that holds the space). Both warm.
// The value: the dispatch's passes over the longest lookup path of the queries
// (target ≤ 1: a pass per level at most); the time ratio is in the detail, and
// the passes of the same lookups written without saves (run once), which go
// from the root every pass.

import { createKernel, createPool, createSpace } from '../src/index.ts';
import { bstKeys, bstLookup, bstQueries, buildBst, checkLookups, Node } from '../demos/lib/bst.ts';
import { interleave, KiB, MiB, timeGpu, type BenchContext, type CaseResult } from './lib.ts';

/** Nodes each query visits in the BST that inserting `keys` in order builds (the GPU lookup's path). */
function pathLengths(keys: readonly number[], queries: Uint32Array): Uint32Array {
  const n = keys.length;
  const left = new Int32Array(n).fill(-1);
  const right = new Int32Array(n).fill(-1);
  for (let i = 1; i < n; i++) {
    const k = keys[i]!;
    for (let cur = 0; ;) {
      const side = k < keys[cur]! ? left : right;
      if (side[cur]! < 0) {
        side[cur] = i;
        break;
      }
      cur = side[cur]!;
    }
  }
  return queries.map((q) => {
    let visited = 0;
    for (let cur = 0; cur >= 0; visited++) {
      if (keys[cur] === q) return visited + 1;
      cur = q < keys[cur]! ? left[cur]! : right[cur]!;
    }
    return visited;
  });
}

export function treeCase(): { key: string; title: string; run(ctx: BenchContext): Promise<CaseResult> } {
  return {
    key: 'demand-tree',
    title: 'tree lookups by demand paging: tree 2× the pool vs resident',
    async run(ctx) {
      const nodes = ctx.quick ? 250_000 : 1_000_000;
      const qn = ctx.quick ? 16_384 : 65_536;
      const pageSize = 4 * KiB;
      const treeBytes = nodes * Node.size;
      const spaceBytes = Math.ceil((treeBytes + qn * 8) / pageSize) * pageSize + 4 * pageSize;
      const poolBytes = Math.floor(treeBytes / 2 / pageSize) * pageSize;
      const small = await createPool(ctx.device, { capacity: poolBytes, pageSize, label: 'tree-2x' });
      const big = await createPool(ctx.device, { capacity: Math.ceil((spaceBytes * 1.25) / MiB) * MiB, pageSize, label: 'tree-resident' });
      const keys = bstKeys(nodes);
      const lookup = createKernel({ label: 'bench:tree-lookup', workgroupSize: 64, structs: [Node], code: bstLookup.code, idempotent: true });
      const setUp = async (pool: typeof small) => {
        const space = createSpace(pool, { size: spaceBytes, label: 'tree' });
        const tree = await buildBst(space, keys);
        const queries = bstQueries(tree, qn);
        const q = space.alloc(qn * 4);
        const out = space.alloc(qn * 4);
        await space.write(q, queries);
        return { space, tree, queries, q, out };
      };
      const over = await setUp(small);
      const res = await setUp(big);
      const depth = pathLengths(keys, over.queries).reduce((m, x) => Math.max(m, x), 0);
      const seen = { over: { passes: 0, slices: 0 }, res: { passes: 0, slices: 0 } };
      const run = (s: typeof over, st: { passes: number; slices: number }, kernel = lookup) => async () => {
        let passes = 0;
        let slices = 0;
        const ms = await timeGpu(ctx.device, async () => {
          const r = await s.space.dispatch(kernel, { workgroups: qn / 64, args: [s.tree.root, s.q, s.out, qn], demand: true });
          passes = r.demand!.passes;
          slices = r.demand!.slices;
        });
        const check = checkLookups(s.tree, s.queries, new Float32Array((await s.space.read(s.out, qn * 4)).slice().buffer));
        if (check.mismatches !== 0) throw new Error(`demand-tree: ${check.mismatches} lookups wrong`);
        st.passes = passes;
        st.slices = slices;
        return ms;
      };
      const t = await interleave(ctx, { '2× the pool': run(over, seen.over), resident: run(res, seen.res) });
      // The same lookups without saves (from the root every pass), once: what resuming saves.
      const plain = createKernel({
        label: 'bench:tree-lookup-plain', workgroupSize: 64, structs: [Node], idempotent: true,
        code: bstLookup.code.replace('vm_resume_u32(0u, vm_arg_u32(0u))', 'vm_arg_u32(0u)').replace('vm_save_u32(0u, p);', ''),
      });
      if (plain.resumes) throw new Error('demand-tree: the plain lookup still saves');
      const without = { passes: 0, slices: 0 };
      await run(over, without, plain)(); // compiles
      const plainMs = await run(over, without, plain)();
      const evictions = small.stats().evictions;
      over.space.destroy();
      res.space.destroy();
      small.destroy();
      big.destroy();
      return {
        value: seen.over.passes / depth, target: 1, direction: 'max', unit: 'passes per level of the deepest lookup',
        baseline: t.resident, runtime: t['2× the pool'],
        detail: {
          units: 'ms per dispatch (baseline: the tree resident)', nodes, lookups: qn,
          treeMiB: Math.round((treeBytes / MiB) * 100) / 100, poolMiB: Math.round((poolBytes / MiB) * 100) / 100,
          deepestLookup: depth, passes: seen.over.passes, slices: seen.over.slices, timeRatio: Math.round((t['2× the pool'] / t.resident) * 100) / 100,
          passesResident: seen.res.passes, passesWithoutSaves: without.passes, slicesWithoutSaves: without.slices, msWithoutSaves: Math.round(plainMs), evictions,
        },
      };
    },
  };
}
