// Demo: Graph500-style BFS, demand-paged, on Node + Dawn (demos/lib/bfs-demo.ts).
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
// Usage: npm run demo:bfs -- [--scale 16] [--pool MiB] [--page KiB] [--seed N] [--upload …] [--trace FILE]

import { parseArgs } from 'node:util';
import { requestNodeDevice } from '../../src/node.ts';
import { runBfsDemo } from '../lib/bfs-demo.ts';
import { COMMON_USAGE, commonOptions, DemoCli, parseDemoArgs, poolChoice, whole, withoutDawnWarnings } from './cli.ts';

await withoutDawnWarnings();

const USAGE = `Usage: npm run demo:bfs -- [flags]
  --scale S           the graph has 2^S vertices, edge factor 16 (default 16)
  --seed N            the generator's seed (default 1)${COMMON_USAGE}`;

const { values } = parseDemoArgs(USAGE, () => parseArgs({
  options: {
    ...commonOptions({ pool: '2', page: '4' }),
    scale: { type: 'string', default: '16' },
    seed: { type: 'string', default: '1' },
  },
}));

const cli = new DemoCli({ trace: values.trace });
const node = await requestNodeDevice();
try {
  console.log(`webgpu-hmm Graph500 BFS on ${node.adapterName}`);
  const out = await runBfsDemo(node.device, { ...poolChoice(values), scale: whole('scale', values.scale, 1), seed: whole('seed', values.seed) }, cli.hooks);
  cli.summary(out, [
    ['reached (GPU / host)', `${out.reached} / ${out.hostReached}`],
    ['depth, levels', `${out.depth}, ${out.levels}`],
    ['validation', out.valid ? 'OK' : `FAILED: ${out.errors.join('; ')}`],
  ]);
  console.log(`RESULT: ${out.summary}`);
  if (!out.ok) process.exitCode = 1;
} finally {
  cli.close();
  node.destroy();
}
