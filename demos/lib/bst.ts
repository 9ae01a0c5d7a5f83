// Demo library: a binary search tree built in JavaScript inside an address
// space, with `defineStruct` (one layout for host and WGSL; a pointer is a
// virtual address), and a lookup kernel that walks it on the GPU. Shared by the
// Node demo, the browser demo and the tests.

import { createKernel, defineStruct, type AddressSpace } from '../../src/index.ts';

export const Node = defineStruct('Node', { key: 'u32', value: 'f32', left: 'ptr', right: 'ptr' });

export interface Bst {
  /** Address of the root node (the first node of the arena). */
  readonly root: number;
  readonly arena: number;
  readonly count: number;
  /** The same mapping, on the host: what every GPU lookup must match. */
  readonly host: Map<number, number>;
  readonly keys: readonly number[];
}

/** `count` distinct pseudo-random keys; key i maps to value i / 2. */
export function bstKeys(count: number, seed = 12345): number[] {
  const keys: number[] = [];
  const seen = new Set<number>();
  for (let x = seed >>> 0; keys.length < count; ) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const k = x >>> 8;
    if (!seen.has(k)) (seen.add(k), keys.push(k));
  }
  return keys;
}

/**
 * Insert the keys in order (an unbalanced BST, depth about 2 ln n) and write
 * every node straight into the space, children as virtual addresses. The
 * insertion walk runs over host-side index arrays (fast); the space holds the
 * only copy of the tree that the GPU sees.
 */
export async function buildBst(space: AddressSpace, keys: readonly number[]): Promise<Bst> {
  const count = keys.length;
  const arena = space.alloc(count * Node.size, { align: Node.align, label: 'tree nodes' });
  const left = new Int32Array(count).fill(-1);
  const right = new Int32Array(count).fill(-1);
  for (let i = 1; i < count; i++) {
    const key = keys[i]!;
    let cur = 0;
    for (;;) {
      const side = key < keys[cur]! ? left : right;
      const next = side[cur]!;
      if (next < 0) {
        side[cur] = i;
        break;
      }
      cur = next;
    }
  }
  const host = new Map<number, number>();
  const addr = (i: number) => (i < 0 ? 0 : arena + i * Node.size);
  await space.withView(arena, count * Node.size, 'write', (view) => {
    for (let i = 0; i < count; i++) {
      Node.write(view, i * Node.size, { key: keys[i]!, value: i * 0.5, left: addr(left[i]!), right: addr(right[i]!) });
      host.set(keys[i]!, i * 0.5);
    }
  });
  return { root: arena, arena, count, host, keys };
}

/** results[i] = value of queries[i] in the tree, or -1. Args: root, queries, results, count. */
export const bstLookup = createKernel({
  label: 'bst-lookup',
  workgroupSize: 64,
  structs: [Node],
  code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x;
  if (i >= vm_arg_u32(3u)) { return; }
  let key = vm_load_u32(vm_arg_u32(1u) + i * 4u);
  // Resumable: a lookup that stalls on a node's page goes on from that node in the next pass.
  var p = vm_resume_u32(0u, vm_arg_u32(0u));
  var found = -1.0;
  loop {
    if (p == 0u) { break; }
    vm_save_u32(0u, p);
    let k = Node_key(p);
    if (k == key) { found = Node_value(p); break; }
    p = select(Node_right(p), Node_left(p), key < k);
  }
  vm_store_f32(vm_arg_u32(2u) + i * 4u, found);
}`,
});

/** Half the queries are keys in the tree, half are (almost surely) not. */
export function bstQueries(tree: Bst, n: number): Uint32Array {
  return new Uint32Array(n).map((_, i) => (i % 2 === 0 ? tree.keys[(i * 7) % tree.count]! : (i * 2654435761) >>> 8));
}

/** Compare GPU results with the host map; returns mismatches and how many queries hit. */
export function checkLookups(tree: Bst, queries: Uint32Array, results: Float32Array): { mismatches: number; hits: number } {
  let mismatches = 0;
  let hits = 0;
  for (let i = 0; i < queries.length; i++) {
    const want = tree.host.get(queries[i]!) ?? -1;
    if (results[i] !== want) mismatches++;
    if (want >= 0) hits++;
  }
  return { mismatches, hits };
}
