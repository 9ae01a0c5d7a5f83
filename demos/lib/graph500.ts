// Demo library: Graph500-style breadth-first search. A Kronecker (R-MAT)
// graph is generated and laid out as CSR inside an address space; a
// level-synchronous BFS runs on the GPU in demand mode (the kernel chases
// offsets → adjacency → parent entries it cannot know in advance, claims
// vertices with compare-exchange and appends them to the next frontier: not
// idempotent, so every level is a transaction); the host validates the parent
// tree with the Graph500 rules. Shared by the Node demo, the browser demo and
// the tests.

import { createKernel, type AddressSpace, type DispatchResult } from '../../src/index.ts';

/** Graph500's R-MAT initiator probabilities (A, B, C; D = 1 - A - B - C). */
const RMAT_A = 0.57;
const RMAT_B = 0.19;
const RMAT_C = 0.19;
export const EDGE_FACTOR = 16;
export const NO_PARENT = 0xffff_ffff;

/** mulberry32: small, seeded, good enough for graph generation. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface EdgeList {
  readonly scale: number;
  readonly vertices: number;
  readonly src: Uint32Array;
  readonly dst: Uint32Array;
}

/** 2^scale vertices, edgeFactor · 2^scale edges, R-MAT, vertex labels permuted (self-loops and duplicates kept, as Graph500 does). */
export function kronecker(scale: number, seed = 1, edgeFactor = EDGE_FACTOR): EdgeList {
  const n = 2 ** scale;
  const m = edgeFactor * n;
  const r = rng(seed);
  const src = new Uint32Array(m);
  const dst = new Uint32Array(m);
  const ab = RMAT_A + RMAT_B;
  const cNorm = RMAT_C / (1 - ab);
  const aNorm = RMAT_A / ab;
  for (let e = 0; e < m; e++) {
    let u = 0;
    let v = 0;
    for (let bit = 0; bit < scale; bit++) {
      const down = r() > ab; // lower half (C or D)
      const right = r() > (down ? cNorm : aNorm);
      u = (u << 1) | (down ? 1 : 0);
      v = (v << 1) | (right ? 1 : 0);
    }
    src[e] = u >>> 0;
    dst[e] = v >>> 0;
  }
  // Permute vertex labels so that degree does not follow the label.
  const perm = new Uint32Array(n).map((_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(r() * (i + 1));
    const t = perm[i]!;
    perm[i] = perm[j]!;
    perm[j] = t;
  }
  for (let e = 0; e < m; e++) {
    src[e] = perm[src[e]!]!;
    dst[e] = perm[dst[e]!]!;
  }
  return { scale, vertices: n, src, dst };
}

export interface Csr {
  readonly vertices: number;
  /** offsets[v] .. offsets[v + 1] index `adjacency`; each list is sorted. */
  readonly offsets: Uint32Array;
  readonly adjacency: Uint32Array;
}

/** Undirected CSR: both directions of every edge, self-loops dropped, lists sorted (for the validator's lookups). */
export function toCsr(g: EdgeList): Csr {
  const n = g.vertices;
  const deg = new Uint32Array(n + 1);
  for (let e = 0; e < g.src.length; e++) {
    const u = g.src[e]!;
    const v = g.dst[e]!;
    if (u === v) continue;
    deg[u]!++;
    deg[v]!++;
  }
  const offsets = new Uint32Array(n + 1);
  for (let v = 0; v < n; v++) offsets[v + 1] = offsets[v]! + deg[v]!;
  const fill = offsets.slice(0, n);
  const adjacency = new Uint32Array(offsets[n]!);
  for (let e = 0; e < g.src.length; e++) {
    const u = g.src[e]!;
    const v = g.dst[e]!;
    if (u === v) continue;
    adjacency[fill[u]!++] = v;
    adjacency[fill[v]!++] = u;
  }
  for (let v = 0; v < n; v++) adjacency.subarray(offsets[v]!, offsets[v + 1]!).sort();
  return { vertices: n, offsets, adjacency };
}

function hasEdge(g: Csr, u: number, v: number): boolean {
  let lo = g.offsets[u]!;
  let hi = g.offsets[u + 1]!;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const x = g.adjacency[mid]!;
    if (x === v) return true;
    if (x < v) lo = mid + 1;
    else hi = mid;
  }
  return false;
}

/** A root with at least one edge (Graph500 picks roots of non-zero degree). */
export function pickRoot(g: Csr, seed = 2): number {
  const r = rng(seed);
  for (;;) {
    const v = Math.floor(r() * g.vertices);
    if (g.offsets[v + 1]! > g.offsets[v]!) return v;
  }
}

export interface Validation {
  readonly ok: boolean;
  /** The first problems found (at most 10), in words. */
  readonly errors: readonly string[];
  /** Vertices in the BFS tree, root included. */
  readonly reached: number;
  /** Depth of the tree (the root is level 0). */
  readonly depth: number;
}

/**
 * Graph500's BFS validation: (1) the root is its own parent; (2) every tree
 * edge (v, parent[v]) is a graph edge, and following parents from any reached
 * vertex ends at the root (no cycles); (3) the BFS levels of the two ends of
 * every graph edge differ by at most one; (4) every vertex reachable from the
 * root is reached (an edge with exactly one reached end breaks it).
 */
export function validateBfs(g: Csr, edges: EdgeList, root: number, parent: Uint32Array): Validation {
  const n = g.vertices;
  const errors: string[] = [];
  const fail = (s: string) => {
    if (errors.length < 10) errors.push(s);
  };
  if (parent.length !== n) fail(`parent array has ${parent.length} entries, the graph ${n} vertices`);
  if (parent[root] !== root) fail(`rule 1: the root ${root} is not its own parent (parent ${parent[root]})`);
  // Levels from the tree: walk up to a vertex of known level, then fill in on the way down.
  const level = new Int32Array(n).fill(-1);
  const UNKNOWN = -1;
  const ON_PATH = -2;
  level[root] = 0;
  const path: number[] = [];
  for (let v = 0; v < n; v++) {
    if (parent[v] === NO_PARENT || level[v] !== UNKNOWN) continue;
    let x = v;
    while (level[x] === UNKNOWN) {
      const p = parent[x]!;
      if (p === NO_PARENT || p >= n) {
        fail(`rule 2: vertex ${x} has parent ${p}, which is not a reached vertex`);
        break;
      }
      if (x !== root && !hasEdge(g, x, p)) fail(`rule 2: tree edge (${x}, ${p}) is not a graph edge`);
      level[x] = ON_PATH;
      path.push(x);
      x = p;
    }
    let base = level[x]!;
    if (base === ON_PATH) {
      fail(`rule 2: the parents of vertex ${v} form a cycle that does not reach the root`);
      base = UNKNOWN;
    }
    for (let i = path.length - 1; i >= 0; i--) {
      base = base < 0 ? UNKNOWN : base + 1;
      level[path[i]!] = base;
    }
    path.length = 0;
  }
  let reached = 0;
  let depth = 0;
  for (let v = 0; v < n; v++) {
    if (level[v]! >= 0) {
      reached++;
      depth = Math.max(depth, level[v]!);
    }
  }
  for (let e = 0; e < edges.src.length; e++) {
    const u = edges.src[e]!;
    const v = edges.dst[e]!;
    const lu = level[u]!;
    const lv = level[v]!;
    if ((lu >= 0) !== (lv >= 0)) fail(`rule 4: edge (${u}, ${v}) has one end reached and the other not`);
    else if (lu >= 0 && Math.abs(lu - lv) > 1) fail(`rule 3: edge (${u}, ${v}) joins levels ${lu} and ${lv}`);
  }
  return { ok: errors.length === 0, errors, reached, depth };
}

/** A plain host BFS (for the demo's comparison and the tests). */
export function hostBfs(g: Csr, root: number): Uint32Array {
  const parent = new Uint32Array(g.vertices).fill(NO_PARENT);
  parent[root] = root;
  let frontier = [root];
  while (frontier.length > 0) {
    const next: number[] = [];
    for (const v of frontier) {
      for (let e = g.offsets[v]!; e < g.offsets[v + 1]!; e++) {
        const u = g.adjacency[e]!;
        if (parent[u] === NO_PARENT) {
          parent[u] = v;
          next.push(u);
        }
      }
    }
    frontier = next;
  }
  return parent;
}

const WG = 64;

/**
 * One BFS level. Args: offsets, adjacency, parent, current frontier, next
 * frontier, frontier length. A frontier is [count, 0, 0, 0, vertices…].
 */
export const bfsLevel = createKernel({
  label: 'bfs-level',
  workgroupSize: WG,
  code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x + inv.global_id.y * inv.num_workgroups.x * ${WG}u;
  if (i >= vm_arg_u32(5u)) { return; }
  let v = vm_load_u32(vm_arg_u32(3u) + 16u + i * 4u);
  let off = vm_arg_u32(0u) + v * 4u;
  let e1 = vm_load_u32(off + 4u);
  for (var e = vm_load_u32(off); e < e1; e++) {
    let u = vm_load_u32(vm_arg_u32(1u) + e * 4u);
    let r = vm_atomic_compare_exchange_u32(vm_arg_u32(2u) + u * 4u, ${NO_PARENT}u, v);
    if (r.exchanged) {
      let slot = vm_atomic_add_u32(vm_arg_u32(4u), 1u);
      vm_atomic_store_u32(vm_arg_u32(4u) + 16u + slot * 4u, u);
    }
  }
}`,
});

export interface GraphInSpace {
  readonly offsets: number;
  readonly adjacency: number;
  readonly parent: number;
  readonly frontiers: readonly [number, number];
  /** Bytes of the graph itself (offsets + adjacency). */
  readonly graphBytes: number;
}

/** Lay the CSR out in the space, with a parent array and two frontiers. */
export async function loadGraph(space: AddressSpace, g: Csr): Promise<GraphInSpace> {
  const align = space.pageSize;
  const offsets = space.alloc(g.offsets.byteLength, { align, label: 'offsets' });
  const adjacency = space.alloc(Math.max(4, g.adjacency.byteLength), { align, label: 'adjacency' });
  const parent = space.alloc(g.vertices * 4, { align, label: 'parent' });
  const f0 = space.alloc(16 + g.vertices * 4, { align, label: 'frontier A' });
  const f1 = space.alloc(16 + g.vertices * 4, { align, label: 'frontier B' });
  await space.write(offsets, g.offsets);
  await space.write(adjacency, g.adjacency);
  return { offsets, adjacency, parent, frontiers: [f0, f1], graphBytes: g.offsets.byteLength + g.adjacency.byteLength };
}

export interface BfsLevelReport {
  readonly level: number;
  readonly frontier: number;
  readonly result: DispatchResult;
}

/** Level-synchronous BFS from `root`, demand-paged; returns the parent array. */
export async function runBfs(
  space: AddressSpace, g: GraphInSpace, vertices: number, root: number, onLevel?: (r: BfsLevelReport) => void,
): Promise<Uint32Array> {
  const parentInit = new Uint32Array(vertices).fill(NO_PARENT);
  parentInit[root] = root;
  await space.write(g.parent, parentInit);
  let [cur, next] = g.frontiers;
  await space.write(cur, new Uint32Array([1, 0, 0, 0, root]));
  const maxX = 65535;
  for (let level = 0, count = 1; count > 0; level++) {
    await space.write(next, new Uint32Array([0]));
    const groups = Math.ceil(count / WG);
    const workgroups: [number, number] = groups <= maxX ? [groups, 1] : [maxX, Math.ceil(groups / maxX)];
    const result = await space.dispatch(bfsLevel, {
      workgroups, demand: true, args: [g.offsets, g.adjacency, g.parent, cur, next, count],
    });
    onLevel?.({ level, frontier: count, result });
    count = new Uint32Array((await space.read(next, 4)).buffer)[0]!;
    [cur, next] = [next, cur];
  }
  return new Uint32Array((await space.read(g.parent, vertices * 4)).buffer);
}
