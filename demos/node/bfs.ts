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
import { requestNodeDevice } from '../../src/node.ts';
import { runBfsDemo } from '../lib/bfs-demo.ts';

const MiB = 1024 * 1024;
const { values } = parseArgs({
  options: {
    scale: { type: 'string', default: '16' },
    pool: { type: 'string', default: '2' },
    page: { type: 'string', default: '4' },
    seed: { type: 'string', default: '1' },
  },
});

const node = await requestNodeDevice();
try {
  const out = await runBfsDemo(
    node.device,
    { scale: Number(values.scale), poolBytes: Number(values.pool) * MiB, pageSize: Number(values.page) * 1024, seed: Number(values.seed) },
    (line) => console.log(line),
  );
  console.log(`RESULT: ${out.summary}`);
  if (!out.ok) process.exitCode = 1;
} finally {
  node.destroy();
}
