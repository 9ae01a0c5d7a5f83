// Demo: a binary search tree built in JavaScript, queried by many GPU
// invocations at once, demand-paged, on Node + Dawn (demos/lib/tree-demo.ts).
//
// The tree lives in a virtual address space as `Node` structs whose child
// pointers are virtual addresses (defineStruct: one layout for host and WGSL).
// The lookup kernel walks it from the root; no one declares which pages it
// will touch, so every dispatch runs in demand mode — and, since the kernel
// only reads the tree and writes its own result slot, as an idempotent kernel
// (replay mode) or, with --transaction, as a transaction. Every result is
// checked against a host Map.
//
// Usage: npm run demo:tree -- [--nodes N] [--queries N] [--pool MiB] [--page KiB] [--transaction] [--upload …] [--trace FILE]

import { parseArgs } from 'node:util';
import { requestNodeDevice } from '../../src/node.ts';
import { runTreeDemo } from '../lib/tree-demo.ts';
import { COMMON_USAGE, commonOptions, DemoCli, parseDemoArgs, poolChoice, whole, withoutDawnWarnings } from './cli.ts';

await withoutDawnWarnings();

const USAGE = `Usage: npm run demo:tree -- [flags]
  --nodes N           tree nodes (default 1000000)
  --queries N         GPU lookups (default 65536)
  --transaction       run the lookups as a transaction instead of idempotent replay${COMMON_USAGE}`;

const { values } = parseDemoArgs(USAGE, () => parseArgs({
  options: {
    ...commonOptions({ pool: '8', page: '4' }),
    nodes: { type: 'string', default: '1000000' },
    queries: { type: 'string', default: '65536' },
    transaction: { type: 'boolean', default: false },
  },
}));

const cli = new DemoCli({ trace: values.trace });
const node = await requestNodeDevice();
try {
  console.log(`webgpu-hmm tree lookups on ${node.adapterName}`);
  const out = await runTreeDemo(node.device, {
    ...poolChoice(values), nodes: whole('nodes', values.nodes, 1), queries: whole('queries', values.queries, 1),
    mode: values.transaction ? 'transaction' : 'replay',
  }, cli.hooks);
  cli.summary(out, [
    ['lookups', `${out.lookups} (${out.hits} found, ${out.mismatches} mismatches)`],
    ['mode, passes', `${out.mode}, ${out.passes}`],
  ]);
  console.log(`RESULT: ${out.summary}`);
  if (!out.ok) process.exitCode = 1;
} finally {
  cli.close();
  node.destroy();
}
