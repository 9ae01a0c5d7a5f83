// The demos on Dawn, at test sizes: the BST lookups in demand mode (replay
// and transaction) agree with the host Map; BFS over a Kronecker graph at
// least 4× the pool passes the Graph500 validation; the streaming and
// thrashing runs (demos/lib) verify their data and report through their hooks.
// The pages themselves are tested in Chromium by test/e2e. Each run is traced
// and the trace checked against the Trace Event Format rules; the thrash run's
// through the Node CLI's --trace (demos/node/cli.ts), file and all.

import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';
import { testWithDevice, KiB, MiB } from '../helpers/gpu.ts';
import { makeSpace } from '../helpers/space.ts';
import { traceProblems } from '../helpers/trace-format.ts';
import { createKernel, recordTrace, type AddressSpace } from '../../src/index.ts';
import { DemoCli } from '../../demos/node/cli.ts';
import { runStreamDemo, STREAM_DEFAULTS } from '../../demos/lib/stream-demo.ts';
import { runThrashDemo, THRASH_DEFAULTS, THRASH_THRESHOLD } from '../../demos/lib/thrash-demo.ts';
import { runFileDemo } from '../../demos/node/file-demo.ts';
import { bstKeys, bstLookup, bstQueries, buildBst, checkLookups, Node } from '../../demos/lib/bst.ts';
import { hostBfs, kronecker, loadGraph, pickRoot, runBfs, toCsr, validateBfs } from '../../demos/lib/graph500.ts';

testWithDevice('tree demo: GPU lookups walk a JS-built BST, demand-paged through a pool smaller than the tree', async (ctx) => {
  const { space, pool } = await makeSpace(ctx, { capacity: 1 * MiB, pageSize: 4 * KiB }, 4 * MiB);
  const trace = recordTrace(pool);
  const tree = await buildBst(space, bstKeys(131072)); // 2 MiB of nodes, 2× the pool
  const qn = 4096;
  const queries = bstQueries(tree, qn);
  const q = space.alloc(qn * 4);
  const out = space.alloc(qn * 4);
  await space.write(q, queries);
  const replayable = createKernel({ label: 'bst-lookup', workgroupSize: 64, structs: [Node], code: bstLookup.code, idempotent: true });
  for (const kernel of [replayable, bstLookup]) {
    await space.write(out, new Float32Array(qn).fill(-2));
    const r = await space.dispatch(kernel, { workgroups: qn / 64, args: [tree.root, q, out, qn], demand: true });
    expect(r.mode).toBe(kernel.idempotent ? 'replay' : 'transaction');
    const check = checkLookups(tree, queries, new Float32Array((await space.read(out, qn * 4)).buffer));
    expect(check.mismatches).toBe(0);
    expect(check.hits).toBeGreaterThanOrEqual(qn / 2);
    expect(r.evictions).toBeGreaterThan(0);
  }
  space.checkInvariants();
  trace.stop();
  expect(traceProblems(trace.toJSON())).toEqual([]);
});

testWithDevice('BFS demo: a Kronecker graph 4× the pool is searched on the GPU and passes Graph500 validation', async (ctx) => {
  const edges = kronecker(14, 7);
  const csr = toCsr(edges);
  const graphBytes = csr.offsets.byteLength + csr.adjacency.byteLength;
  const pageSize = 4 * KiB;
  const capacity = Math.floor(graphBytes / 4 / pageSize) * pageSize;
  const size = Math.ceil((graphBytes + csr.vertices * 12 + 8 * pageSize) / pageSize) * pageSize;
  const { space, pool } = await makeSpace(ctx, { capacity, pageSize }, size);
  const trace = recordTrace(pool);
  const g = await loadGraph(space, csr);
  expect(g.graphBytes / capacity).toBeGreaterThanOrEqual(4);
  const root = pickRoot(csr, 3);
  let aborts = 0;
  let levels = 0;
  const parent = await runBfs(space, g, csr.vertices, root, ({ result }) => {
    levels++;
    aborts += result.demand!.aborts;
    expect(result.mode).toBe('transaction');
  });
  const v = validateBfs(csr, edges, root, parent);
  expect(v.errors).toEqual([]);
  const host = validateBfs(csr, edges, root, hostBfs(csr, root));
  expect(v.reached).toBe(host.reached);
  expect(v.depth).toBe(host.depth);
  expect(levels).toBe(v.depth + 1);
  space.checkInvariants();
  trace.stop();
  expect(traceProblems(trace.toJSON())).toEqual([]);
  // Reported for the record; aborts are allowed (appends the probe cannot place), their count is not fixed.
  expect(aborts).toBeGreaterThanOrEqual(0);
});

testWithDevice('stream demo: declared and transaction runs of a data set 4× the pool verify against the CPU; the hooks see the space and every phase', async ({ device }) => {
  for (const mode of ['declared', 'transaction'] as const) {
    const phases = new Set<string>();
    let watched: AddressSpace | null = null;
    let detached = false;
    const problems: string[] = [];
    const r = await runStreamDemo(device, { ...STREAM_DEFAULTS, dataBytes: 2 * MiB, poolBytes: 512 * KiB, pageSize: 16 * KiB, chunkBytes: 128 * KiB, mode }, {
      progress: (name, done, total) => {
        expect(done).toBeLessThanOrEqual(total);
        phases.add(name);
      },
      attach: (space) => {
        watched = space;
        expect(space.residency().unpopulated).toBe(space.size / space.pageSize); // before any allocation
        const trace = recordTrace(space.pool);
        return () => {
          trace.stop();
          problems.push(...traceProblems(trace.toJSON()));
          detached = true;
        };
      },
    });
    expect(r.summary).toMatch(/^ok: sum and xor of 2 MiB verified against the CPU/);
    expect(r.ok).toBe(true);
    expect(r.badSamples).toBe(0);
    expect(r.ratio).toBe(4);
    expect(watched).not.toBeNull();
    expect(detached).toBe(true);
    expect(problems).toEqual([]);
    expect([...phases]).toEqual(['fill', 'compile', 'transform', 'reduce', 'read back']);
    expect(r.stats.evictions).toBeGreaterThan(0);
    expect(r.stats.faultBatches > 0).toBe(mode === 'transaction');
  }
});

testWithDevice('thrash demo: pages ping-pong between host and GPU; per-page migration counts add up to the pool counters and the data matches the host', async ({ device }) => {
  const dir = mkdtempSync(join(tmpdir(), 'hmm-trace-'));
  try {
    for (const mode of ['declared', 'replay'] as const) {
      // Only the CLI's attach hook (ledger and --trace), not its console output.
      const file = join(dir, `thrash-${mode}.json`);
      const cli = new DemoCli({ trace: file });
      const r = await runThrashDemo(device, { ...THRASH_DEFAULTS, workingSetBytes: 512 * KiB, poolBytes: 256 * KiB, pageSize: 4 * KiB, rounds: 3, hostEvery: 2, chunkBytes: 32 * KiB, mode }, { attach: cli.hooks.attach! });
      expect(r.mismatches).toBe(0);
      expect(r.ok).toBe(true);
      expect(r.pages).toBe(128);
      expect(r.moves.length).toBe(128);
      // Every copy either way is one page in one migration event's list.
      expect(r.moves.reduce((a, b) => a + b, 0)).toBe(r.stats.pagesToDevice + r.stats.pagesToHost);
      expect(r.thrashing).toBeGreaterThan(0);
      expect(r.maxMoves).toBeGreaterThan(THRASH_THRESHOLD);
      expect(r.stats.invalidations).toBeGreaterThan(0);
      // The file --trace wrote: migrations and counters in it, and every rule kept.
      const trace = JSON.parse(readFileSync(file, 'utf8')) as { traceEvents: { name: string; ph: string }[] };
      expect(trace.traceEvents.some((e) => e.ph === 'X' && e.name.startsWith('to-device'))).toBe(true);
      expect(trace.traceEvents.some((e) => e.ph === 'C' && e.name === 'resident bytes')).toBe(true);
      expect(traceProblems(trace)).toEqual([]);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

testWithDevice('file demo: a file 4× its host budget and 8× the pool streams through a file-backed space, verified against the CPU and the file after flush', async (ctx) => {
  const dir = mkdtempSync(join(tmpdir(), 'hmm-file-demo-'));
  try {
    const phases = new Set<string>();
    const out = await runFileDemo(ctx.device, {
      path: join(dir, 'data.bin'), dataBytes: 8 * MiB, hostBudget: 2 * MiB, chunkBytes: 256 * KiB,
      poolBytes: 1 * MiB, pageSize: 4 * KiB, uploadPath: 'auto',
    }, { progress: (p) => void phases.add(p) });
    expect(out.summary).toMatch(/^ok/);
    expect(out.ok).toBe(true);
    expect(out.peakHostBytes).toBeLessThanOrEqual(2 * MiB);
    expect(out.hostEvictions).toBeGreaterThan(0);
    const [transform, reduce, flush] = out.phases;
    expect(transform!.diskToHost).toBeGreaterThanOrEqual(8 * MiB); // every byte came from the file
    expect(transform!.hostToDisk).toBeGreaterThan(0); // and results went back before the flush
    expect(reduce!.hostToDevice).toBeGreaterThan(0);
    expect(flush!.hostToDisk).toBeGreaterThan(0);
    expect([...phases]).toEqual(['write file', 'transform', 'reduce', 'flush']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
