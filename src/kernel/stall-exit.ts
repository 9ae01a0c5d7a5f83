// Loop exits for stalled invocations, linked into a kernel's demand variants
// (src/kernel/link.ts). A stalled invocation (shaders/prelude.wgsl vm_stall)
// stores nothing and is run again; all it still gives a pass is hints, and once
// its translation is off (VM_HINTS hints, or VM_STALL_PAGES moves: vm_quit) it
// gives nothing at all — yet it ran the rest of its loops, with zeros, to the
// end. On lavapipe a pass then cost what one that completes does: a probe of
// the Graph500 BFS's slice holding its hub vertex walked the hub's 16,829
// neighbours in every pass, stalled or not (61 ms a probe of one workgroup,
// against 46 ms for the whole resident level). So each loop's body of a demand
// variant begins with `if (vm_quit()) { break; }`: a stalled invocation leaves
// every loop as soon as it can report nothing more. What it runs after the
// loop is as harmless as what it ran inside: its stores are dropped, its
// results discarded. A loop whose exit depends only on data it loads (a list
// walk to a null) no longer spins in a stalled invocation, either.
//
// In an idempotent kernel's variants (replay) only `loop` and `while` get the
// exit, not `for`: there the demand variant runs over resident pages at the
// declared one's speed, and a tight `for` loop with the exit ran 1.40-1.42x
// the declared variant against 1.31-1.35x without (a sum of 512 words an
// invocation over resident pages, alternated runs on lavapipe); a counted
// loop ends by itself. A transaction's variants get it in every loop (the
// BFS's loop over a vertex's neighbours is a `for` up to a loaded bound).
//
// Not for a kernel that synchronizes its workgroup or uses subgroup builtins:
// WGSL's uniformity analysis refuses a barrier (or a subgroup operation) after
// a break that depends on a private variable, and such a kernel's loops hold
// them. Line breaks are kept, so compile errors name the user's lines.

import type { KernelSource } from './kernel.ts';
import { scanWgsl } from './wgsl-tokens.ts';

const EXIT = ' if (vm_quit()) { break; }';

/** Which loops get the exit: every one, or `loop` and `while` only (see the header). */
export type StallExitLoops = 'all' | 'uncounted';

/** Whether `kernel`'s demand variants get the loop exits (see the header). */
export function stallExitsApply(kernel: KernelSource): boolean {
  return !kernel.workgroupSync && !/\bsubgroups\b/.test(kernel.directives);
}

/**
 * `body` with a stalled invocation's exit at the top of each `loop`, `for` and
 * `while` body (`for` left out with `uncounted`). Each loop's body is the first `{` after its keyword outside
 * parentheses (the `for` header's, an attribute's arguments). Text that is not
 * WGSL is returned as it came: the compiler reports it.
 */
export function withStallExits(body: string, loops: StallExitLoops = 'all'): string {
  const { tokens, error } = scanWgsl(body);
  if (error) return body;
  const at: number[] = [];
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.kind !== 'word' || (t.text !== 'loop' && t.text !== 'while' && (t.text !== 'for' || loops === 'uncounted'))) continue;
    if (tokens[i - 1]?.text === '.') continue; // a member (WGSL reserves the keywords, but say so)
    let depth = 0;
    for (let j = i + 1; j < tokens.length; j++) {
      const u = tokens[j]!;
      if (u.text === '(') depth++;
      else if (u.text === ')') depth--;
      else if (depth === 0 && (u.text === ';' || u.text === '}')) break; // not a loop statement
      else if (depth === 0 && u.text === '{') {
        at.push(u.end);
        break;
      }
    }
  }
  if (at.length === 0) return body;
  let out = '';
  let from = 0;
  for (const p of at) {
    out += body.slice(from, p) + EXIT;
    from = p;
  }
  return out + body.slice(from);
}
