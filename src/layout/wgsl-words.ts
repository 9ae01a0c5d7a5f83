// WGSL's keywords and reserved words (WGSL spec, "Keywords" and "Reserved
// Words"). Generated accessor names are built from user strings (`Name_field`),
// so a struct and field pair can spell one of them (`static` + `cast` gives
// `static_cast`, `co` + `await` gives `co_await`); such a kernel would fail to
// compile far from where the names were chosen. defineStruct checks every
// identifier it emits against this list and refuses the names instead.
//
// The reserved list is the spec's (C++, Rust, ECMAScript, GLSL, HLSL words
// that WGSL keeps free for future use). test/layout/names.test.ts compares it
// with TypeGPU's own copy of the spec list.

export const WGSL_KEYWORDS: ReadonlySet<string> = new Set([
  'alias', 'break', 'case', 'const', 'const_assert', 'continue', 'continuing', 'default', 'diagnostic', 'discard',
  'else', 'enable', 'false', 'fn', 'for', 'if', 'let', 'loop', 'override', 'requires', 'return', 'struct', 'switch',
  'true', 'var', 'while',
]);

export const WGSL_RESERVED: ReadonlySet<string> = new Set([
  'NULL', 'Self', 'abstract', 'active', 'alignas', 'alignof', 'as', 'asm', 'asm_fragment', 'async', 'attribute', 'auto',
  'await', 'become', 'cast', 'catch', 'class', 'co_await', 'co_return', 'co_yield', 'coherent', 'column_major',
  'common', 'compile', 'compile_fragment', 'concept', 'const_cast', 'consteval', 'constexpr', 'constinit', 'crate',
  'debugger', 'decltype', 'delete', 'demote', 'demote_to_helper', 'do', 'dynamic_cast', 'enum', 'explicit', 'export',
  'extends', 'extern', 'external', 'fallthrough', 'filter', 'final', 'finally', 'friend', 'from', 'fxgroup', 'get',
  'goto', 'groupshared', 'highp', 'impl', 'implements', 'import', 'inline', 'instanceof', 'interface', 'layout',
  'lowp', 'macro', 'macro_rules', 'match', 'mediump', 'meta', 'mod', 'module', 'move', 'mut', 'mutable', 'namespace',
  'new', 'nil', 'noexcept', 'noinline', 'nointerpolation', 'non_coherent', 'noncoherent', 'noperspective', 'null',
  'nullptr', 'of', 'operator', 'package', 'packoffset', 'partition', 'pass', 'patch', 'pixelfragment', 'precise',
  'precision', 'premerge', 'priv', 'protected', 'pub', 'public', 'readonly', 'ref', 'regardless', 'register',
  'reinterpret_cast', 'require', 'resource', 'restrict', 'self', 'set', 'shared', 'sizeof', 'smooth', 'snorm',
  'static', 'static_assert', 'static_cast', 'std', 'subroutine', 'super', 'target', 'template', 'this',
  'thread_local', 'throw', 'trait', 'try', 'type', 'typedef', 'typeid', 'typename', 'typeof', 'union', 'unless',
  'unorm', 'unsafe', 'unsized', 'use', 'using', 'varying', 'virtual', 'volatile', 'wgsl', 'where', 'with',
  'writeonly', 'yield',
]);

/** Why `id` cannot be a WGSL identifier we emit, or null when it can. */
export function wgslIdentifierProblem(id: string): string | null {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(id)) return `"${id}" is not a WGSL identifier (ASCII letters, digits and _, not starting with a digit)`;
  if (id === '_' || id.startsWith('__')) return `"${id}" is not a WGSL identifier (WGSL refuses "_" and names starting with "__")`;
  if (WGSL_KEYWORDS.has(id)) return `"${id}" is a WGSL keyword`;
  if (WGSL_RESERVED.has(id)) return `"${id}" is a WGSL reserved word`;
  // The prelude owns vm_/VM_/Vm…; the kernel linker refuses user code that names its internals.
  if (/^vm/i.test(id)) return `"${id}" starts with "${id.slice(0, 2)}", a prefix reserved for the prelude`;
  return null;
}
