// The BFS demo's run, without the page: shared by demos/node/bfs.ts, bfs.html and the browser
// test. Prints its lines through `log`, with a check
// of the reached count against a host BFS.

import { createPool, createSpace } from '../../src/index.ts';
import { hostBfs, kronecker, loadGraph, NO_PARENT, pickRoot, runBfs, toCsr, validateBfs } from './graph500.ts';

const MiB = 1024 * 1024;

export interface BfsOptions {
  readonly scale: number;
  readonly poolBytes: number;
  readonly pageSize: number;
  readonly seed: number;
}

// The smallest graph ≥ 4× a pool that still holds one 64-invocation workgroup's
// pages: at scale 12 / 0.125 MiB a workgroup with a hub needs more than the pool.
export const BFS_DEFAULTS: BfsOptions = { scale: 14, poolBytes: 0.5 * MiB, pageSize: 4096, seed: 1 };

export interface BfsOutcome {
  readonly ok: boolean;
  readonly valid: boolean;
  readonly errors: readonly string[];
  readonly root: number;
  readonly reached: number;
  readonly hostReached: number;
  readonly depth: number;
  readonly levels: number;
  readonly graphBytes: number;
  /** graphBytes / poolBytes. */
  readonly ratio: number;
  readonly evictions: number;
  /** Whole run (generation, load, BFS, validation), ms. */
  readonly ms: number;
  /** One line for the status element. */
  readonly summary: string;
}

export async function runBfsDemo(device: GPUDevice, o: BfsOptions, log: (line: string) => void): Promise<BfsOutcome> {
  const { scale, poolBytes, pageSize, seed } = o;
  const start = performance.now();
  const edges = kronecker(scale, seed);
  const csr = toCsr(edges);
  const root = pickRoot(csr, seed + 1);
  const tGen = performance.now() - start;

  const graphBytes = csr.offsets.byteLength + csr.adjacency.byteLength;
  const need = graphBytes + csr.vertices * 4 * 3 + 4 * pageSize;
  const spaceBytes = Math.ceil(need / pageSize) * pageSize;
  const ratio = graphBytes / poolBytes;
  log(`graph: scale ${scale}, ${csr.vertices} vertices, ${edges.src.length} edges (edge factor 16), CSR ${(graphBytes / MiB).toFixed(1)} MiB`);
  log(`pool ${(poolBytes / MiB).toFixed(3).replace(/\.?0+$/, '')} MiB of ${pageSize / 1024} KiB pages: the graph is ${ratio.toFixed(2)}× the pool`);
  if (ratio < 4) log('note: the graph is smaller than 4× the pool; raise the scale or lower the pool');

  const pool = await createPool(device, { capacity: poolBytes, pageSize, label: 'bfs-pool' });
  try {
    const space = createSpace(pool, { size: spaceBytes, label: 'bfs' });
    try {
      const g = await loadGraph(space, csr);
      const t1 = performance.now();
      let passes = 0;
      let aborts = 0;
      let slices = 0;
      let faults = 0;
      let levels = 0;
      const parent = await runBfs(space, g, csr.vertices, root, ({ level, frontier, result }) => {
        const d = result.demand!;
        passes += d.passes;
        aborts += d.aborts;
        slices += d.slices;
        faults += d.pagesFaulted;
        levels = level + 1;
        log(
          `level ${String(level).padStart(2)}: frontier ${String(frontier).padStart(7)}  ` +
            `slices ${String(d.slices).padStart(3)}  probes ${String(d.probes).padStart(3)}  commits ${String(d.commits).padStart(3)} ` +
            `(aborted ${d.aborts})  faulted ${String(d.pagesFaulted).padStart(5)} + ${d.pagesPrefetched} hinted pages  ` +
            `evictions ${result.evictions}  ${result.ms.toFixed(0)} ms`,
        );
      });
      const tBfs = performance.now() - t1;
      const v = validateBfs(csr, edges, root, parent);
      const hostReached = hostBfs(csr, root).reduce((n, p) => (p === NO_PARENT ? n : n + 1), 0);
      const st = pool.stats();
      log(`BFS from ${root}: ${v.reached} vertices reached, depth ${v.depth}, ${(tBfs / 1000).toFixed(2)} s on the GPU side ` +
        `(${passes} passes, ${slices} slices, ${aborts} aborted commits, ${faults} pages faulted); generation ${(tGen / 1000).toFixed(2)} s`);
      log(`moved: ${(st.bytesToDevice / MiB).toFixed(1)} MiB to the device, ${(st.bytesToHost / MiB).toFixed(1)} MiB back; ` +
        `${st.evictions} evictions (${st.evictionWritebacks} write-backs)`);
      if (v.ok) {
        log('validation: OK (root is its own parent; tree edges are graph edges; edge ends differ by ≤ 1 level; every reachable vertex reached)');
      } else {
        log('validation FAILED:\n  ' + v.errors.join('\n  '));
      }
      log(`host BFS reached ${hostReached} vertices: ${hostReached === v.reached ? 'same as' : 'DIFFERENT from'} the GPU`);
      const ok = v.ok && hostReached === v.reached;
      return {
        ok, valid: v.ok, errors: v.errors, root, reached: v.reached, hostReached, depth: v.depth, levels, graphBytes, ratio,
        evictions: st.evictions, ms: performance.now() - start,
        summary: `${ok ? 'ok' : 'FAILED'}: BFS from ${root} reached ${v.reached} vertices (host ${hostReached}), depth ${v.depth}, ` +
          `validation ${v.ok ? 'OK' : 'FAILED'}; graph ${ratio.toFixed(2)}× the pool`,
      };
    } finally {
      space.destroy();
    }
  } finally {
    pool.destroy();
  }
}
