// The bench case `demand-bfs` (issue 21, taking over item 5 of issue 15): the
// Graph500 BFS of the demo (demos/lib/graph500.ts: one demand dispatch per
// level, a transaction — it claims vertices with compare-exchange and appends
// to the next frontier) over a graph 4× the pool, against the same BFS with
// the graph resident (a pool that holds the space). Both warm: the kernel is
// compiled and the timed runs start from the state a previous run left (the
// resident one all on the device; the oversubscribed one with whatever its
// last levels kept). Reported: the time ratio (target ≤ 3), and the passes per
// level of each, which is what demand paging costs beyond the transfers.

import { createPool, createSpace, type AddressSpace } from '../src/index.ts';
import { hostBfs, kronecker, loadGraph, NO_PARENT, pickRoot, runBfs, toCsr } from '../demos/lib/graph500.ts';
import { interleave, KiB, MiB, timeGpu, type BenchContext, type CaseResult } from './lib.ts';

export function bfsCase(): { key: string; title: string; run(ctx: BenchContext): Promise<CaseResult> } {
  return {
    key: 'demand-bfs',
    title: 'BFS by demand paging: graph 4× the pool vs resident',
    async run(ctx) {
      const scale = ctx.quick ? 14 : 15;
      const pageSize = 4 * KiB;
      const edges = kronecker(scale, 1);
      const csr = toCsr(edges);
      const root = pickRoot(csr, 2);
      const want = hostBfs(csr, root).reduce((n, p) => (p === NO_PARENT ? n : n + 1), 0);
      const graphBytes = csr.offsets.byteLength + csr.adjacency.byteLength;
      const spaceBytes = Math.ceil((graphBytes + csr.vertices * 4 * 3 + 64 * KiB) / pageSize) * pageSize + 8 * pageSize;
      const poolBytes = Math.ceil(graphBytes / 4 / pageSize) * pageSize;
      const small = await createPool(ctx.device, { capacity: poolBytes, pageSize, label: 'bfs-4x' });
      const big = await createPool(ctx.device, { capacity: Math.ceil((spaceBytes * 1.25) / MiB) * MiB, pageSize, label: 'bfs-resident' });
      const setUp = async (pool: typeof small) => {
        const space = createSpace(pool, { size: spaceBytes, label: 'bfs' });
        return { space, g: await loadGraph(space, csr) };
      };
      const over = await setUp(small);
      const res = await setUp(big);
      const stats = { over: { passes: 0, levels: 0 }, res: { passes: 0, levels: 0 } };
      const run = (s: { space: AddressSpace; g: Awaited<ReturnType<typeof loadGraph>> }, st: { passes: number; levels: number }) => async () => {
        let passes = 0;
        let levels = 0;
        let reached = 0;
        const ms = await timeGpu(ctx.device, async () => {
          const parent = await runBfs(s.space, s.g, csr.vertices, root, ({ result }) => {
            passes += result.demand!.passes;
            levels++;
          });
          for (const p of parent) if (p !== NO_PARENT) reached++;
        });
        if (reached !== want) throw new Error(`demand-bfs: reached ${reached} vertices, the host BFS ${want}`);
        st.passes = passes;
        st.levels = levels;
        return ms;
      };
      const t = await interleave(ctx, { '4× the pool': run(over, stats.over), resident: run(res, stats.res) });
      const evictions = small.stats().evictions;
      over.space.destroy();
      res.space.destroy();
      small.destroy();
      big.destroy();
      return {
        value: t['4× the pool'] / t.resident, target: 3, direction: 'max', unit: 'time ratio',
        baseline: t.resident, runtime: t['4× the pool'],
        detail: {
          units: 'ms per BFS', scale, graphMiB: Math.round((graphBytes / MiB) * 100) / 100, poolMiB: Math.round((poolBytes / MiB) * 100) / 100,
          levels: stats.over.levels, passesPerLevelOversubscribed: stats.over.passes / stats.over.levels,
          passesPerLevelResident: stats.res.passes / stats.res.levels, evictions,
        },
      };
    },
  };
}
