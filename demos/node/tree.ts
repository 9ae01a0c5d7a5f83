// Demo: a binary search tree built in JavaScript, queried by many GPU
// invocations at once, demand-paged, on Node + Dawn.
//
// The tree lives in a virtual address space as `Node` structs whose child
// pointers are virtual addresses (defineStruct: one layout for host and WGSL).
// The lookup kernel walks it from the root; no one declares which pages it
// will touch, so every dispatch runs in demand mode — and, since the kernel
// only reads the tree and writes its own result slot, as an idempotent kernel
// (replay mode) or, with --transaction, as a transaction. Every result is
// checked against a host Map.
//
// Usage: npm run demo:tree -- [--nodes N] [--queries N] [--pool MiB] [--page KiB] [--transaction]

import { parseArgs } from 'node:util';
import { requestNodeDevice } from '../../src/node.ts';
import { runTreeDemo } from '../lib/tree-demo.ts';

const MiB = 1024 * 1024;
const { values } = parseArgs({
  options: {
    nodes: { type: 'string', default: '1000000' },
    queries: { type: 'string', default: '65536' },
    pool: { type: 'string', default: '8' },
    page: { type: 'string', default: '4' },
    transaction: { type: 'boolean', default: false },
  },
});

const node = await requestNodeDevice();
try {
  const out = await runTreeDemo(
    node.device,
    {
      nodes: Number(values.nodes), queries: Number(values.queries), poolBytes: Number(values.pool) * MiB,
      pageSize: Number(values.page) * 1024, transaction: values.transaction,
    },
    (line) => console.log(line),
  );
  console.log(`RESULT: ${out.summary}`);
  if (!out.ok) process.exitCode = 1;
} finally {
  node.destroy();
}
