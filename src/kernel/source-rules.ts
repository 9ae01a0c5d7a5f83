// Kernel source rules: what a user's WGSL may name, declare and bind, checked
// on its tokens (src/kernel/wgsl-tokens.ts) before it is ever linked. They are
// what keeps a kernel on space A from reaching space B's frames in a shared
// pool through its source (DESIGN.md §2.3): the prelude's window bindings,
// its raw word accessors (vm_read_word, vm_write_word, vm_word) and its
// translation state (vm_tc_page, vm_tc_pte) are all plain WGSL in the same
// module as the kernel, so the only way to keep them out of reach is to refuse
// any kernel that names them, binds memory of its own, or redefines a name the
// prelude's code relies on. Each rule is stated by construction, not as a list
// of known attacks:
//
//  1. Namespace. Every identifier the prelude and the generated glue declare
//     starts with vm_, VM_ or Vm (test/kernel/source-rules.test.ts sweeps the
//     linked output of several pool configurations to hold that), and a kernel
//     may use a word of that namespace only if it is in PUBLIC_API. Comments
//     are not code: a comment may mention anything.
//  2. No shadowing. WGSL lets a module-scope declaration take the name of a
//     builtin (`fn select`, `alias u32 = i32`), and the prelude's own calls
//     would then resolve to it. A kernel may not declare, at module scope, any
//     name that the linked prelude, glue or entry point mentions (computed
//     from the generated text itself), nor anything outside the namespace rule.
//  3. No resources. Module-scope variables only in the private and workgroup
//     address spaces (no storage or uniform buffers, textures or samplers), and
//     no @group/@binding attribute or entry point attribute anywhere: all of
//     a kernel's memory is virtual memory, reached through the prelude.
//     The one exception is the kernel's own resources: declarations in
//     @group(1) of bindings listed in createKernel's `resources`, which
//     src/kernel/resources.ts checks (`resourceNames` here: the variables it
//     accepted); the dispatch refuses a runtime buffer there.
//
// What is left to a kernel is WGSL over function, private and workgroup
// memory plus the public API: nothing that can name a pool buffer or form a
// pointer into one. Syntax is left to the compiler, which reports it with the
// user's line numbers (src/kernel/pipelines.ts); these rules need only the
// tokens, the brace depth and the word after a declaration keyword, which
// WGSL makes unambiguous (keywords are reserved, there are no strings).

import { link, type LinkConfig } from './link.ts';
import type { KernelSource } from './kernel.ts';
import { scanWgsl, type WgslToken } from './wgsl-tokens.ts';

const LOADS = ['u32', 'i32', 'f32', 'vec2u', 'vec2i', 'vec2f', 'vec4u', 'vec4i', 'vec4f'];
const ATOMIC_U32 = ['load', 'store', 'add', 'sub', 'max', 'min', 'and', 'or', 'xor', 'exchange', 'compare_exchange'];

/**
 * The prelude's documented API (README, "WGSL prelude"): the only names of its
 * namespace a kernel may use. Struct accessors from defineStruct() are named
 * after their struct (`Node_key`) and call only these.
 */
export const PUBLIC_API: ReadonlySet<string> = new Set([
  ...LOADS.map((t) => `vm_load_${t}`),
  ...LOADS.map((t) => `vm_store_${t}`),
  ...ATOMIC_U32.map((op) => `vm_atomic_${op}_u32`),
  'vm_atomic_add_i32',
  'vm_atomic_sub_i32',
  // The same by a 64-bit pointer (spaces over 4 GiB; they work in any space).
  ...LOADS.map((t) => `vm_ptr_load_${t}`),
  ...LOADS.map((t) => `vm_ptr_store_${t}`),
  ...ATOMIC_U32.map((op) => `vm_ptr_atomic_${op}_u32`),
  'vm_ptr_atomic_add_i32',
  'vm_ptr_atomic_sub_i32',
  'VmPtr',
  'vm_ptr',
  'vm_ptr_add',
  'vm_arg_ptr',
  'vm_arg_u32',
  'vm_arg_i32',
  'vm_arg_f32',
  'vm_faulted',
  'vm_save_u32',
  'vm_resume_u32',
  'VmInvocation',
  'VmCasResult',
]);

/** The prelude's namespace: every identifier it declares starts so. */
const NAMESPACE_START = /^(vm_|VM_|Vm)/;
const NAMESPACE_ANYWHERE = /(vm_|VM_|Vm)/;
const PLAIN_IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

const DECL_KEYWORDS = new Set(['fn', 'var', 'const', 'override', 'alias', 'struct']);
const ENTRY_ATTRIBUTES = new Set(['compute', 'vertex', 'fragment', 'workgroup_size']);
const BINDING_ATTRIBUTES = new Set(['group', 'binding']);
/** Attributes with no bearing on memory or entry points. */
const ALLOWED_ATTRIBUTES = new Set(['align', 'size', 'must_use', 'diagnostic', 'id']);
/** Extensions a kernel may enable (others are render-only, experimental or internal to the browser). */
const ALLOWED_EXTENSIONS = new Set(['f16', 'subgroups']);
const KERNEL_ADDRESS_SPACES = new Set(['private', 'workgroup']);

const API_HINT = 'vm_load_*, vm_store_*, vm_atomic_*, vm_arg_*, vm_faulted, vm_save_u32, vm_resume_u32, VmInvocation, VmCasResult; VmPtr, vm_ptr, vm_ptr_add, vm_ptr_load_*, vm_ptr_store_*, vm_ptr_atomic_* (README, "WGSL prelude")';
const RESOURCE_HINT =
  'a kernel reaches memory only through the prelude (vm_load_*, vm_store_*, vm_atomic_* on virtual addresses), and every binding belongs to the runtime; ' +
  'a kernel’s own uniforms, textures, samplers and buffers go in @group(1), listed in createKernel’s resources (guide: "A kernel\'s own resources")';

export interface CheckedSource {
  /** What breaks the rules, each as "line N: what — fix"; empty when nothing does. */
  readonly problems: readonly string[];
  /** The code's words in order (identifiers, keywords, numbers), comments excluded. */
  readonly words: readonly string[];
  /** Declares `fn kernel` at module scope. */
  readonly declaresKernel: boolean;
  /** Declares a var<workgroup>. */
  readonly workgroupVar: boolean;
  /** The directives (enable, requires, diagnostic) before its first declaration, rebuilt from their tokens. */
  readonly directives: string;
  /** The source with those directives blanked out, line breaks kept (so line numbers stay). */
  readonly body: string;
}

interface ModuleScope {
  readonly decls: { keyword: string; name: string; line: number; addressSpace: string | null }[];
  readonly attributes: { name: string; text: string; line: number }[];
  readonly directives: { keyword: string; tokens: WgslToken[] }[];
  readonly stray: { keyword: string; line: number }[];
}

/** Collects tokens from `i` (an opening `open`) to its matching `close`; returns the index past it. */
function balanced(tokens: readonly WgslToken[], i: number, open: string, close: string): number {
  let level = 0;
  for (; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.kind !== 'punct') continue;
    if (t.text === open) level++;
    else if (t.text === close && --level === 0) return i + 1;
  }
  return i;
}

/** Module-scope declarations, attributes and head directives: all that the rules look at beyond single words. */
function moduleScope(tokens: readonly WgslToken[]): ModuleScope {
  const scope: ModuleScope = { decls: [], attributes: [], directives: [], stray: [] };
  let depth = 0;
  let head = true;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t.kind === 'punct') {
      if (t.text === '{') depth++;
      else if (t.text === '}') depth = Math.max(0, depth - 1);
      else if (t.text === '@' && tokens[i + 1]?.kind === 'word') {
        const name = tokens[i + 1]!.text;
        const end = tokens[i + 2]?.text === '(' ? balanced(tokens, i + 2, '(', ')') : i + 2;
        scope.attributes.push({ name, text: '@' + tokens.slice(i + 1, end).map((x) => x.text).join(''), line: t.line });
      }
      if (depth === 0 && t.text !== ';') head = false;
      continue;
    }
    if (depth !== 0) continue;
    const prev = tokens[i - 1];
    if ((t.text === 'enable' || t.text === 'requires' || t.text === 'diagnostic') && prev?.text !== '@') {
      let end = i;
      while (end < tokens.length && tokens[end]!.text !== ';') end++;
      if (head) scope.directives.push({ keyword: t.text, tokens: tokens.slice(i, end + 1) });
      else scope.stray.push({ keyword: t.text, line: t.line });
      i = end;
      continue;
    }
    head = false;
    if (!DECL_KEYWORDS.has(t.text)) continue;
    let j = i + 1;
    let addressSpace: string | null = null;
    if (t.text === 'var') {
      addressSpace = '';
      if (tokens[j]?.text === '<') {
        const end = balanced(tokens, j, '<', '>');
        addressSpace = tokens.slice(j + 1, end).find((x) => x.kind === 'word')?.text ?? '';
        j = end;
      }
    }
    const name = tokens[j];
    if (name?.kind === 'word') scope.decls.push({ keyword: t.text, name: name.text, line: name.line, addressSpace });
  }
  return scope;
}

function inNamespace(word: string): boolean {
  // A word that is not a plain identifier (a number run into letters, a non-ASCII one) may
  // hold an identifier the compiler splits out of it: look inside it too.
  return PLAIN_IDENT.test(word) ? NAMESPACE_START.test(word) : NAMESPACE_ANYWHERE.test(word);
}

let preludeNamesCache: ReadonlySet<string> | null = null;

/**
 * Every word that the generated module around a kernel mentions outside member
 * access, over the link configurations that change the generated text
 * (windows, atomics, demand paths, replay record): builtins it calls, types,
 * address spaces, its own declarations and locals. A kernel declaring one of
 * them at module scope could change what the prelude's code refers to.
 */
export function preludeNames(): ReadonlySet<string> {
  if (preludeNamesCache) return preludeNamesCache;
  const names = new Set<string>();
  for (const atomics of [false, true]) {
    for (const windowCount of [1, 2]) {
      for (const demand of [false, true]) {
        for (const [replayPerInvocation, wideAddresses] of [[false, false], [true, false], [false, true], [true, true]] as const) {
          // Addresses of 64 bits come with the two-level page table (a space that needs the one
          // is large enough for the other): the text of every variant is swept together.
          const cfg: LinkConfig = {
            pageShift: 12, windowCount, windowWordShift: 10,
            demand, replayPerInvocation, accessCounters: demand,
            wideAddresses, pageTableLeafShift: wideAddresses ? 10 : 0,
          };
          const stub: KernelSource = {
            label: '', code: '', directives: '', body: '', structWgsl: '', workgroupSize: [1, 1, 1],
            usesAtomics: atomics, idempotent: false, workgroupSync: !replayPerInvocation,
          };
          const { tokens } = scanWgsl(link(stub, cfg).code);
          tokens.forEach((t, i) => {
            if (t.kind === 'word' && tokens[i - 1]?.text !== '.') names.add(t.text);
          });
        }
      }
    }
  }
  // The one name the generated code takes from the kernel: its entry function.
  names.delete('kernel');
  preludeNamesCache = names;
  return names;
}

/**
 * Checks one piece of a kernel's source (its code, or one struct's accessors)
 * against the rules. `where` prefixes each problem ("line 3", "struct Node line 3").
 */
export function checkSource(source: string, where = 'line', resourceNames?: ReadonlySet<string>): CheckedSource {
  const scan = scanWgsl(source);
  const problems: string[] = [];
  const words = scan.tokens.filter((t) => t.kind === 'word').map((t) => t.text);
  if (scan.error) problems.push(scan.error);
  const at = (line: number) => `${where} ${line}`;

  const named = new Set<string>();
  for (const t of scan.tokens) {
    if (t.kind !== 'word' || PUBLIC_API.has(t.text) || !inNamespace(t.text) || named.has(t.text)) continue;
    named.add(t.text);
    problems.push(
      `${at(t.line)}: "${t.text}" is internal to the prelude; a kernel may name only its documented API: ${API_HINT}. ` +
        'Names starting vm_, VM_ or Vm are reserved: rename yours',
    );
  }

  const scope = moduleScope(scan.tokens);
  for (const a of scope.attributes) {
    if (ALLOWED_ATTRIBUTES.has(a.name)) continue;
    if (BINDING_ATTRIBUTES.has(a.name) && resourceNames !== undefined) continue; // checked against the resources list (resources.ts)
    if (BINDING_ATTRIBUTES.has(a.name)) problems.push(`${at(a.line)}: ${a.text} declares a resource binding: ${RESOURCE_HINT}. Remove it`);
    else if (ENTRY_ATTRIBUTES.has(a.name)) {
      problems.push(`${at(a.line)}: ${a.text} belongs to an entry point, which the runtime owns: define fn kernel(inv: VmInvocation) and pass workgroupSize to createKernel`);
    } else problems.push(`${at(a.line)}: ${a.text} is not allowed in a kernel; the attributes a kernel may use are @${[...ALLOWED_ATTRIBUTES].join(', @')}`);
  }

  const shadowed = preludeNames();
  let declaresKernel = false;
  let workgroupVar = false;
  for (const d of scope.decls) {
    if (d.keyword === 'fn' && d.name === 'kernel') declaresKernel = true;
    if (d.addressSpace === 'workgroup') workgroupVar = true;
    if (d.addressSpace !== null && !KERNEL_ADDRESS_SPACES.has(d.addressSpace) && !(d.keyword === 'var' && resourceNames?.has(d.name) === true)) {
      const what = d.addressSpace === '' ? 'a texture or sampler (handle address space)' : `in the ${d.addressSpace} address space`;
      problems.push(`${at(d.line)}: module-scope variable "${d.name}" is ${what}: a kernel may declare only var<private> and var<workgroup>; ${RESOURCE_HINT}`);
    }
    if (shadowed.has(d.name) && !named.has(d.name)) {
      problems.push(
        `${at(d.line)}: module-scope ${d.keyword} "${d.name}" takes a name the linked prelude uses (a builtin it calls, a type, or one of its own), ` +
          'which would change what the prelude’s code refers to: rename it',
      );
    }
  }
  for (const d of scope.directives) {
    if (d.keyword !== 'enable') continue;
    for (const x of d.tokens.slice(1)) {
      if (x.kind === 'word' && !ALLOWED_EXTENSIONS.has(x.text)) {
        problems.push(`${at(x.line)}: enable ${x.text} is not allowed in a kernel; it may enable ${[...ALLOWED_EXTENSIONS].join(', ')}`);
      }
    }
  }
  for (const s of scope.stray) problems.push(`${at(s.line)}: ${s.keyword} must come before every declaration: move it to the top of the code`);

  let body = source;
  let directives = '';
  if (scope.directives.length > 0) {
    // Blank from the first directive's start to the last one's end, keeping line breaks: only
    // blankspace and comments lie between them (that is what makes them the head).
    const first = scope.directives[0]!.tokens[0]!;
    const lastTokens = scope.directives[scope.directives.length - 1]!.tokens;
    const last = lastTokens[lastTokens.length - 1]!;
    body = source.slice(0, first.start) + source.slice(first.start, last.end).replace(/[^\n]/g, ' ') + source.slice(last.end);
    directives = scope.directives.map((d) => d.tokens.map((x) => x.text).join(' ')).join('\n') + '\n';
  }
  return { problems, words, declaresKernel, workgroupVar, directives, body };
}
