// The Graph500 demo's generator and validator, without a GPU: the validator
// accepts a correct BFS tree and rejects each kind of broken one.

import { describe, expect, it } from 'vitest';
import { hostBfs, kronecker, NO_PARENT, pickRoot, toCsr, validateBfs, type EdgeList } from '../../demos/lib/graph500.ts';

function edges(n: number, pairs: [number, number][]): EdgeList {
  return { scale: Math.log2(n), vertices: n, src: Uint32Array.from(pairs.map((p) => p[0])), dst: Uint32Array.from(pairs.map((p) => p[1])) };
}

describe('Kronecker generator and CSR', () => {
  it('makes edge factor 16, symmetric sorted lists without self-loops, skewed degrees', () => {
    const g = kronecker(10, 3);
    expect(g.vertices).toBe(1024);
    expect(g.src.length).toBe(16 * 1024);
    const csr = toCsr(g);
    let loops = 0;
    for (let e = 0; e < g.src.length; e++) if (g.src[e] === g.dst[e]) loops++;
    expect(csr.adjacency.length).toBe(2 * (g.src.length - loops));
    let maxDeg = 0;
    for (let v = 0; v < csr.vertices; v++) {
      const list = csr.adjacency.subarray(csr.offsets[v]!, csr.offsets[v + 1]!);
      for (let i = 1; i < list.length; i++) expect(list[i]! >= list[i - 1]!).toBe(true);
      for (const u of list) expect(u).not.toBe(v);
      maxDeg = Math.max(maxDeg, list.length);
    }
    // R-MAT is skewed: the biggest hub has far more than the mean degree of 32.
    expect(maxDeg).toBeGreaterThan(8 * 32);
    expect(toCsr(kronecker(10, 3)).adjacency).toEqual(csr.adjacency); // seeded
  });
});

describe('BFS validator (Graph500 rules)', () => {
  it('accepts the host BFS of a Kronecker graph', () => {
    const g = kronecker(11, 5);
    const csr = toCsr(g);
    const root = pickRoot(csr);
    const v = validateBfs(csr, g, root, hostBfs(csr, root));
    expect(v.errors).toEqual([]);
    expect(v.ok).toBe(true);
    expect(v.reached).toBeGreaterThan(1);
  });

  // 0 - 1 - 2 - 3, 0 - 3, and 4 - 5 apart.
  const g = edges(8, [[0, 1], [1, 2], [2, 3], [0, 3], [4, 5]]);
  const csr = toCsr(g);
  const N = NO_PARENT;
  const good = Uint32Array.from([0, 0, 1, 0, N, N, N, N]);

  it('accepts a correct tree of a small graph', () => {
    const v = validateBfs(csr, g, 0, good);
    expect(v).toMatchObject({ ok: true, reached: 4, depth: 2 });
  });

  it.each([
    ['root not its own parent', [1, 0, 1, 0, N, N, N, N], /rule 1/],
    ['a tree edge that is not a graph edge', [0, 0, 0, 0, N, N, N, N], /rule 2: tree edge \(2, 0\)/],
    ['levels more than one apart across an edge', [0, 0, 1, 2, N, N, N, N], /rule 3: edge \(0, 3\) joins levels 0 and 3/],
    ['a reachable vertex not reached', [0, 0, N, 0, N, N, N, N], /rule 4/],
    ['parents that form a cycle', [0, 2, 1, 0, N, N, N, N], /cycle/],
    ['a parent that was never reached', [0, 0, 1, 0, N, 4, N, N], /rule 2: vertex 4 has parent/],
  ])('rejects %s', (_, parent, message) => {
    const v = validateBfs(csr, g, 0, Uint32Array.from(parent));
    expect(v.ok).toBe(false);
    expect(v.errors.join('\n')).toMatch(message);
  });
});
