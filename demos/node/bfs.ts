// Demo: Graph500-style BFS, demand-paged, on Node + Dawn.
//
// A Kronecker (R-MAT) graph, edge factor 16, is built on the host as CSR in a
// virtual address space at least 4× larger than the device pool. Each BFS
// level is one dispatch in demand mode: the kernel reads frontier → offsets →
// adjacency → parent entries that no one declared, so pages fault in as it
// goes; claims use compare-exchange and the next frontier is an append, so the
// runtime runs each level as a transaction (probe, snapshot, commit), in slices
// of the grid when a level's working set does not fit the pool. The parent
// tree is validated with the Graph500 rules.
//
// Usage: npm run demo:bfs -- [--scale 16] [--pool MiB] [--page KiB] [--seed N]

import { parseArgs } from 'node:util';
import { createPool, createSpace } from '../../src/index.ts';
import { requestNodeDevice } from '../../src/node.ts';
import { kronecker, loadGraph, pickRoot, runBfs, toCsr, validateBfs } from '../lib/graph500.ts';

const MiB = 1024 * 1024;
const { values } = parseArgs({
  options: {
    scale: { type: 'string', default: '16' },
    pool: { type: 'string', default: '2' },
    page: { type: 'string', default: '4' },
    seed: { type: 'string', default: '1' },
  },
});
const scale = Number(values.scale);
const poolBytes = Number(values.pool) * MiB;
const pageSize = Number(values.page) * 1024;

const t0 = performance.now();
const edges = kronecker(scale, Number(values.seed));
const csr = toCsr(edges);
const root = pickRoot(csr, Number(values.seed) + 1);
const tGen = performance.now() - t0;

const graphBytes = csr.offsets.byteLength + csr.adjacency.byteLength;
const need = graphBytes + csr.vertices * 4 * 3 + 4 * pageSize;
const spaceBytes = Math.ceil(need / pageSize) * pageSize;
console.log(`graph: scale ${scale}, ${csr.vertices} vertices, ${edges.src.length} edges (edge factor 16), CSR ${(graphBytes / MiB).toFixed(1)} MiB`);
console.log(`pool ${(poolBytes / MiB).toFixed(1)} MiB of ${pageSize / 1024} KiB pages: the graph is ${(graphBytes / poolBytes).toFixed(2)}× the pool`);
if (graphBytes < 4 * poolBytes) console.warn('note: the graph is smaller than 4× the pool; raise --scale or lower --pool');

const node = await requestNodeDevice();
try {
  const pool = await createPool(node.device, { capacity: poolBytes, pageSize });
  const space = createSpace(pool, { size: spaceBytes, label: 'bfs' });
  const g = await loadGraph(space, csr);
  const t1 = performance.now();
  let passes = 0;
  let aborts = 0;
  let slices = 0;
  let faults = 0;
  const parent = await runBfs(space, g, csr.vertices, root, ({ level, frontier, result }) => {
    const d = result.demand!;
    passes += d.passes;
    aborts += d.aborts;
    slices += d.slices;
    faults += d.pagesFaulted;
    console.log(
      `level ${String(level).padStart(2)}: frontier ${String(frontier).padStart(7)}  ` +
        `slices ${String(d.slices).padStart(3)}  probes ${String(d.probes).padStart(3)}  commits ${String(d.commits).padStart(3)} ` +
        `(aborted ${d.aborts})  faulted ${String(d.pagesFaulted).padStart(5)} + ${d.pagesPrefetched} hinted pages  ` +
        `evictions ${result.evictions}  ${result.ms.toFixed(0)} ms`,
    );
  });
  const tBfs = performance.now() - t1;
  const v = validateBfs(csr, edges, root, parent);
  const st = pool.stats();
  console.log(`BFS from ${root}: ${v.reached} vertices reached, depth ${v.depth}, ${(tBfs / 1000).toFixed(2)} s on the GPU side ` +
    `(${passes} passes, ${slices} slices, ${aborts} aborted commits, ${faults} pages faulted); generation ${(tGen / 1000).toFixed(2)} s`);
  console.log(`moved: ${(st.bytesToDevice / MiB).toFixed(1)} MiB to the device, ${(st.bytesToHost / MiB).toFixed(1)} MiB back; ` +
    `${st.evictions} evictions (${st.evictionWritebacks} write-backs)`);
  if (!v.ok) {
    console.error('validation FAILED:\n  ' + v.errors.join('\n  '));
    process.exitCode = 1;
  } else {
    console.log('validation: OK (root is its own parent; tree edges are graph edges; edge ends differ by ≤ 1 level; every reachable vertex reached)');
  }
  space.destroy();
  pool.destroy();
} finally {
  node.destroy();
}
