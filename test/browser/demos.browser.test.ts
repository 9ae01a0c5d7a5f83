// The browser demos' runs (demos/lib, what tree.html and bfs.html execute)
// in real Chromium (SwiftShader), at the pages' default sizes, which stay
// demand-paged with evictions. The page logic itself is left to e2e tests.

import { test, expect } from 'vitest';
import { runTreeDemo, TREE_DEFAULTS } from '../../demos/lib/tree-demo.ts';
import { BFS_DEFAULTS, runBfsDemo } from '../../demos/lib/bfs-demo.ts';
import { withBrowserDevice } from '../helpers/browser.ts';
import { hostBfs, kronecker, NO_PARENT, pickRoot, toCsr } from '../../demos/lib/graph500.ts';

test('tree demo: GPU lookups in a BST that fills the pool match the host Map', async () => {
  await withBrowserDevice('tree-test-device', async ({ device }) => {
    const lines: string[] = [];
    const o = TREE_DEFAULTS; // 65536 nodes, 8192 queries, 1 MiB pool of 4 KiB pages
    const r = await runTreeDemo(device, o, { log: (l) => lines.push(l) });
    console.log(`tree demo: ${r.ms.toFixed(0)} ms in all`);
    expect(r.lookups).toBe(8192);
    expect(r.mismatches).toBe(0);
    expect(r.hits).toBeGreaterThan(0);
    expect(r.hits).toBeLessThan(8192);
    expect(r.mode).toBe('replay');
    expect(r.pagesFaulted).toBeGreaterThan(0);
    expect(r.evictions).toBeGreaterThan(0);
    expect(r.ok).toBe(true);
    expect(lines.at(-1)).toMatch(/ 0 mismatches against the host Map$/);
  });
});

test('BFS demo: a graph ≥ 4× the pool validates and reaches what a host BFS reaches', async () => {
  await withBrowserDevice('bfs-test-device', async ({ device }) => {
    const lines: string[] = [];
    const o = BFS_DEFAULTS; // scale 14, 0.5 MiB pool of 4 KiB pages
    const r = await runBfsDemo(device, o, { log: (l) => lines.push(l) });
    console.log(`BFS demo: ${r.ms.toFixed(0)} ms in all`);
    expect(r.ratio).toBeGreaterThanOrEqual(4);
    expect(r.errors).toEqual([]);
    expect(r.valid).toBe(true);

    // An independent host BFS on the same graph.
    const csr = toCsr(kronecker(o.scale, o.seed));
    const root = pickRoot(csr, o.seed + 1);
    expect(r.root).toBe(root);
    const hostReached = hostBfs(csr, root).filter((p) => p !== NO_PARENT).length;
    expect(r.reached).toBe(hostReached);
    expect(r.reached).toBeGreaterThan(1);
    expect(r.evictions).toBeGreaterThan(0);
    expect(r.ok).toBe(true);
  });
});
