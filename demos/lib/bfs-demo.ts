// The BFS demo's run, without the page: shared by demos/node/bfs.ts, bfs.html and the tests.
//
// A Kronecker (R-MAT) graph, edge factor 16, as CSR in a space several times
// larger than the pool; each BFS level is one demand-mode dispatch. The kernel
// claims vertices with compare-exchange and appends to the next frontier, so
// it is not idempotent and runs as a transaction (declared ranges cannot name
// what it touches either). The parent tree is validated with the Graph500
// rules and the reached count checked against a host BFS.

import { hostBfs, kronecker, loadGraph, NO_PARENT, pickRoot, runBfs, toCsr, validateBfs } from './graph500.ts';
import { fmtMiB } from './format.ts';
import { phase, withPoolAndSpace, type DemoHooks, type DemoOutcome, type PoolChoice } from './hooks.ts';

const MiB = 1024 * 1024;

export interface BfsOptions extends PoolChoice {
  readonly scale: number;
  readonly seed: number;
}

// The page's defaults: about 5 s on SwiftShader, the graph 2× the pool. The
// smallest graph ≥ 4× a pool that still holds one 64-invocation workgroup's
// pages is scale 14 / 0.5 MiB (about 16 s there): at scale 12 / 0.125 MiB or
// 13 / 0.25 MiB a workgroup with a hub needs more than the pool.
export const BFS_DEFAULTS: BfsOptions = { scale: 12, poolBytes: 0.25 * MiB, pageSize: 4096, seed: 1, uploadPath: 'auto' };

export interface BfsOutcome extends DemoOutcome {
  readonly valid: boolean;
  readonly errors: readonly string[];
  readonly root: number;
  readonly reached: number;
  readonly hostReached: number;
  readonly depth: number;
  readonly levels: number;
  readonly graphBytes: number;
  readonly evictions: number;
}

export async function runBfsDemo(device: GPUDevice, o: BfsOptions, hooks: DemoHooks = {}): Promise<BfsOutcome> {
  const log = (line: string) => hooks.log?.(line);
  const { scale, poolBytes, pageSize, seed } = o;
  const start = performance.now();
  const edges = kronecker(scale, seed);
  const csr = toCsr(edges);
  const root = pickRoot(csr, seed + 1);
  // The host BFS first: its reached count is the progress bar's end.
  const hostReached = hostBfs(csr, root).reduce((n, p) => (p === NO_PARENT ? n : n + 1), 0);
  const tGen = performance.now() - start;

  const graphBytes = csr.offsets.byteLength + csr.adjacency.byteLength;
  const ratio = graphBytes / poolBytes;
  log(`graph: scale ${scale}, ${csr.vertices} vertices, ${edges.src.length} edges (edge factor 16), CSR ${(graphBytes / MiB).toFixed(1)} MiB`);
  log(`pool ${fmtMiB(poolBytes)} MiB of ${pageSize / 1024} KiB pages: the graph is ${ratio.toFixed(2)}× the pool`);
  if (ratio < 4) log('note: the graph is smaller than 4× the pool; raise the scale or lower the pool');

  const need = graphBytes + csr.vertices * 4 * 3 + 4 * pageSize;
  return withPoolAndSpace(device, o, { size: need, label: 'bfs' }, hooks, async (space, pool) => {
    const g = await loadGraph(space, csr);
    const t1 = performance.now();
    let passes = 0;
    let aborts = 0;
    let slices = 0;
    let faults = 0;
    let levels = 0;
    let visited = 0;
    const progress = phase(hooks, 'vertices reached', hostReached);
    const parent = await runBfs(space, g, csr.vertices, root, ({ level, frontier, result }) => {
      const d = result.demand!;
      passes += d.passes;
      aborts += d.aborts;
      slices += d.slices;
      faults += d.pagesFaulted;
      levels = level + 1;
      visited += frontier;
      progress(Math.min(visited, hostReached));
      log(
        `level ${String(level).padStart(2)}: frontier ${String(frontier).padStart(7)}  ` +
          `slices ${String(d.slices).padStart(3)}  probes ${String(d.probes).padStart(3)}  commits ${String(d.commits).padStart(3)} ` +
          `(aborted ${d.aborts})  faulted ${String(d.pagesFaulted).padStart(5)} + ${d.pagesPrefetched} hinted pages  ` +
          `evictions ${result.evictions}  ${result.ms.toFixed(0)} ms`,
      );
    });
    progress(hostReached);
    const tBfs = performance.now() - t1;
    const v = validateBfs(csr, edges, root, parent);
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
      evictions: st.evictions, ms: performance.now() - start, stats: st, dataBytes: graphBytes,
      summary: `${ok ? 'ok' : 'FAILED'}: BFS from ${root} reached ${v.reached} vertices (host ${hostReached}), depth ${v.depth}, ` +
        `validation ${v.ok ? 'OK' : 'FAILED'}; graph ${ratio.toFixed(2)}× the pool`,
    };
  });
}
