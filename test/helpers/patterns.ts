// Synthetic access patterns for the policy tests: a linked list laid out
// sequentially, with stride 2 or in random order, chased by one invocation
// (each pass of a demand dispatch can find only the next node's page: its
// address comes from the node before), and orders of chunk indices.

import { createKernel, type AddressSpace } from '../../src/index.ts';
import { u32 } from './space.ts';

export type Pattern = 'sequential' | 'strided' | 'random';
export const PATTERNS: readonly Pattern[] = ['sequential', 'strided', 'random'];

/** Walk the list from args[0] (at most args[2] nodes), summing word 1 of each node; write [sum, nodes] to args[1]. */
export const chase = createKernel({
  label: 'chase',
  workgroupSize: 1,
  idempotent: true,
  code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  var p = vm_arg_u32(0u);
  var sum = 0u;
  var n = 0u;
  loop {
    if (p == 0u || n >= vm_arg_u32(2u)) { break; }
    sum = sum + vm_load_u32(p + 4u);
    p = vm_load_u32(p);
    n = n + 1u;
  }
  vm_store_u32(vm_arg_u32(1u), sum);
  vm_store_u32(vm_arg_u32(1u) + 4u, n);
}`,
});

/** 0 … n−1 in the pattern's order: as is, by a stride of 5 (n not a multiple of 5), or a fixed shuffle. */
export function order(pattern: Pattern, n: number, seed = 2024): number[] {
  if (pattern === 'strided') return Array.from({ length: n }, (_, i) => (i * 5) % n);
  const o = Array.from({ length: n }, (_, i) => i);
  if (pattern === 'random') {
    let x = seed >>> 0;
    for (let i = n - 1; i > 0; i--) {
      x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
      const j = x % (i + 1);
      [o[i], o[j]] = [o[j]!, o[i]!];
    }
  }
  return o;
}

export interface List {
  /** The first node's address. */
  readonly head: number;
  /** The list's region: `nodes` pages, or 2 × `nodes` for stride 2 (nodes on every other page). */
  readonly addr: number;
  readonly byteLength: number;
  /** Where the chase writes [sum, nodes] (its own page). */
  readonly out: number;
  /** The sum the chase must find. */
  readonly sum: number;
}

/** A list of `nodes` nodes, one at the start of a page, laid out in the pattern; written through withView. */
export async function buildList(space: AddressSpace, pattern: Pattern, nodes: number): Promise<List> {
  const ps = space.pageSize;
  const stride = pattern === 'strided' ? 2 : 1;
  const byteLength = stride * nodes * ps;
  const addr = space.alloc(byteLength, { align: ps, label: 'list' });
  const out = space.alloc(16, { align: ps, label: 'out' });
  const visit = pattern === 'random' ? order('random', nodes) : Array.from({ length: nodes }, (_, i) => i);
  const at = visit.map((k) => addr + k * stride * ps);
  let sum = 0;
  await space.withView(addr, byteLength, 'write', (v) => {
    const w = u32(v);
    for (let i = 0; i < nodes; i++) {
      const word = (at[i]! - addr) / 4;
      w[word] = i + 1 < nodes ? at[i + 1]! : 0;
      w[word + 1] = i * 7 + 1;
      sum += i * 7 + 1;
    }
  });
  return { head: at[0]!, addr, byteLength, out, sum: sum >>> 0 };
}
