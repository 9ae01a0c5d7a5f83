// The kernel source rules (src/kernel/source-rules.ts), without a GPU: every
// identifier the linked prelude declares, for several pool configurations, is
// refused by name; every name it mentions is refused as a module-scope
// declaration; every binding number in every form is refused; the public API
// is accepted; comments and odd line breaks hide nothing and reveal nothing.

import { describe, expect, test } from 'vitest';
import { createKernel, defineStruct, HmmError, KernelCompileError, ReplayUnsafeError, type Kernel } from '../../src/index.ts';
import { link, type LinkConfig } from '../../src/kernel/link.ts';
import { PUBLIC_API } from '../../src/kernel/source-rules.ts';
import { scanWgsl } from '../../src/kernel/wgsl-tokens.ts';

const ENTRY = 'fn kernel(inv: VmInvocation) {}\n';

/** The KernelCompileError createKernel throws for `code`, or fails the test. */
function refusal(code: string, extra: Partial<Parameters<typeof createKernel>[0]> = {}): KernelCompileError {
  let thrown: unknown;
  try {
    createKernel({ label: 'probe', code, ...extra });
  } catch (e) {
    thrown = e;
  }
  expect(thrown, `refused: ${code}`).toBeInstanceOf(KernelCompileError);
  expect((thrown as HmmError).code).toBe('KERNEL_COMPILE');
  return thrown as KernelCompileError;
}

function linked(cfg: Partial<LinkConfig> & { atomics: boolean; replayPerInvocation: boolean }): string {
  const full: LinkConfig = {
    pageShift: 16, windowCount: 1, windowWordShift: 25,
    demand: false, accessCounters: false, ...cfg,
  };
  const k = createKernel({
    code: cfg.atomics ? 'fn kernel(inv: VmInvocation) { vm_atomic_or_u32(0u, 1u); }' : ENTRY,
    workgroupSize: [8, 2, 1],
  });
  // The generated text only: the user's own lines are cut out.
  const src = link(k, full);
  const lines = src.code.split('\n');
  lines.splice(src.userFirstLine - 1, src.userLineCount);
  return lines.join('\n');
}

/** Every configuration whose generated text differs: windows 1 and 4, atomics, demand, replay record. */
function configs(): { name: string; code: string }[] {
  const out: { name: string; code: string }[] = [];
  for (const windowCount of [1, 4]) {
    for (const atomics of [false, true]) {
      for (const demand of [false, true]) {
        for (const replayPerInvocation of [false, true]) {
          for (const wide of [false, true]) {
            out.push({
              name: `${windowCount}w${atomics ? ' atomics' : ''}${demand ? ' demand' : ''} replay per ${replayPerInvocation ? 'invocation' : 'workgroup'}${wide ? ' 64-bit, two-level table' : ''}`,
              code: linked({ windowCount, atomics, demand, accessCounters: !demand, replayPerInvocation, wideAddresses: wide, pageTableLeafShift: wide ? 10 : 0 }),
            });
          }
        }
      }
    }
  }
  return out;
}

/** Module-scope declarations of linked WGSL, and every identifier it mentions outside member access. */
function identifiers(code: string): { declared: Set<string>; mentioned: Set<string> } {
  const tokens = scanWgsl(code).tokens;
  const declared = new Set<string>();
  const mentioned = new Set<string>();
  let depth = 0;
  tokens.forEach((t, i) => {
    if (t.text === '{') depth++;
    if (t.text === '}') depth--;
    if (t.kind === 'word' && /^[A-Za-z_]/.test(t.text) && tokens[i - 1]?.text !== '.') mentioned.add(t.text);
    if (depth === 0 && ['fn', 'var', 'const', 'override', 'alias', 'struct'].includes(t.text)) {
      let j = i + 1;
      if (tokens[j]?.text === '<') while (tokens[j]?.text !== '>') j++;
      declared.add(tokens[t.text === 'var' && tokens[i + 1]?.text === '<' ? j + 1 : j]!.text);
    }
  });
  return { declared, mentioned };
}

const all = configs();
const declared = new Set(all.flatMap((c) => [...identifiers(c.code).declared]));
const mentioned = new Set(all.flatMap((c) => [...identifiers(c.code).mentioned]));
const internal = [...declared].filter((n) => !PUBLIC_API.has(n)).sort();

describe('internal identifiers of the linked prelude', () => {
  test('every one the generated module declares is in the reserved namespace (vm_, VM_, Vm), over every configuration', () => {
    expect(internal.length).toBeGreaterThan(80);
    for (const n of ['vm_w0', 'vm_w3', 'vm_read_word', 'vm_write_word', 'vm_word', 'vm_ov_read', 'vm_tc_page', 'vm_tc_pte', 'vm_u', 'vm_pt', 'vm_log', 'vm_entry', 'vm_wg_pending', 'VmUniforms',
      // 64-bit addresses and the two-level page table: the address type and its operations, the core
      // accessors under the public u32 and VmPtr ones, the page table lookup.
      'VmAddr', 'vm_a_page', 'vm_a_ptr', 'vm_a_u32', 'vm_x_load_u32', 'vm_x_store_vec4u', 'vm_x_atomic_add_u32',
      'vm_ptr_ok', 'vm_ptr_range', 'vm_violation_at', 'vm_pte', 'VM_HI_CAP', 'VM_PT_LEAF_SHIFT']) {
      expect(internal).toContain(n);
    }
    expect(declared).not.toContain('kernel');
    for (const n of declared) expect(n, `${n} is declared by the prelude`).toMatch(/^(vm_|VM_|Vm)/);
  });

  test.each(internal)('%s: naming it is refused, with the name', (name) => {
    const e = refusal(`fn kernel(inv: VmInvocation) {\n  _ = ${name};\n}`);
    expect(e.messages.join('\n')).toContain(`line 2: "${name}" is internal to the prelude`);
    // Declaring it: refused as well (the name is reserved whatever it declares).
    expect(refusal(`${ENTRY}fn ${name}() {}`).message).toContain(`"${name}"`);
  });

  test('every name the linked module mentions (builtins, types, address spaces, locals) is refused as a module-scope declaration', () => {
    const names = [...mentioned].filter((n) => !/^(vm_|VM_|Vm)/.test(n) && n !== 'kernel').sort();
    for (const n of ['select', 'min', 'max', 'atomicStore', 'atomicLoad', 'atomicAdd', 'atomicCompareExchangeWeak', 'bitcast', 'u32', 'vec3', 'array', 'atomic', 'storage', 'private', 'workgroupUniformLoad', 'workgroupBarrier', 'any']) {
      expect(names).toContain(n);
    }
    for (const n of names) {
      for (const decl of [`const ${n} = 1u;`, `fn ${n}() {}`, `alias ${n} = u32;`, `var<private> ${n}: u32;`]) {
        expect(refusal(`${ENTRY}${decl}`).message, decl).toContain(`"${n}"`);
      }
    }
  });
});

describe('shadowing a builtin the prelude calls', () => {
  test.each([
    ['select', 'fn select(a: u32, b: u32, c: bool) -> u32 { return a; }'],
    ['min', 'fn min(a: u32, b: u32) -> u32 { return b; }'],
    ['atomicStore', 'fn atomicStore(p: u32, v: u32) {}'],
    ['u32', 'alias u32 = i32;'],
    ['vec3', 'struct vec3 { a: u32 }'],
    ['bitcast', 'fn bitcast(x: u32) -> u32 { return x; }'],
  ])('module-scope %s is refused', (name, decl) => {
    const e = refusal(`${ENTRY}${decl}`);
    expect(e.messages.join('\n')).toMatch(new RegExp(`line 2: module-scope \\w+ "${name}" takes a name the linked prelude uses.*rename it`));
  });

  test('a local of the same name shadows only inside the user’s own function, and is allowed', () => {
    createKernel({ code: 'fn kernel(inv: VmInvocation) {\n  let select = 1u;\n  let min = select + 1u;\n  vm_store_u32(0u, min);\n}' });
  });
});

describe('resources of its own', () => {
  const forms = [
    (g: number, b: number) => `@group(${g}) @binding(${b}) var<storage, read_write> x: array<u32>;`,
    (g: number, b: number) => `@group(${g}) @binding(${b}) var<storage, read> x: array<u32>;`,
    (g: number, b: number) => `@group(${g}) @binding(${b}) var<uniform> x: vec4<u32>;`,
    (g: number, b: number) => `@group(${g}) @binding(${b}) var x: texture_2d<f32>;`,
    (g: number, b: number) => `@group(${g}) @binding(${b}) var x: sampler;`,
    (g: number, b: number) => `@group(${g})\n@binding(${b})\nvar x: texture_storage_2d<r32uint, write>;`,
    (g: number, b: number) => `@binding(${b}) @group(${g}) var <storage,read_write> /* c */ x: array<atomic<u32>>;`,
  ];
  test('every binding number 0–15 in groups 0–3, in every form, is refused naming the binding and the variable', () => {
    let n = 0;
    for (let g = 0; g < 4; g++) {
      for (let b = 0; b < 16; b++) {
        for (const form of forms) {
          const msg = refusal(`${form(g, b)}\n${ENTRY}`).messages.join('\n');
          expect(msg).toContain(`@group(${g}) declares a resource binding`);
          expect(msg).toContain(`@binding(${b}) declares a resource binding`);
          expect(msg).toMatch(/module-scope variable "x" is (in the (storage|uniform) address space|a texture or sampler)/);
          n++;
        }
      }
    }
    expect(n).toBe(4 * 16 * forms.length);
  });

  test('a resource variable without binding attributes is refused too', () => {
    expect(refusal(`var<storage, read_write> pool: array<u32>;\n${ENTRY}`).message).toContain('module-scope variable "pool" is in the storage address space');
    expect(refusal(`var<uniform> u: vec4<u32>;\n${ENTRY}`).message).toContain('"u" is in the uniform address space');
    expect(refusal(`var t: texture_2d<f32>;\n${ENTRY}`).message).toContain('"t" is a texture or sampler');
  });

  test('entry point attributes and other attributes outside the allowed set are refused', () => {
    expect(refusal(`@compute @workgroup_size(1) fn main() {}\n${ENTRY}`).message).toMatch(/@compute belongs to an entry point.*@workgroup_size\(1\) belongs/s);
    expect(refusal(`@vertex fn v() -> @builtin(position) vec4f { return vec4f(); }\n${ENTRY}`).message).toMatch(/@vertex.*@builtin\(position\) is not allowed/s);
  });

  test('private and workgroup variables, structs with @align/@size, consts, overrides and helpers are allowed', () => {
    const k = createKernel({
      code: `
struct Pair { @align(8) a: u32, @size(8) b: u32 }
const N: u32 = 64u;
@id(3) override SCALE: f32 = 2.0;
var<private> acc: u32;
var<workgroup> tile: array<u32, N>;
@must_use fn twice(x: u32) -> u32 { return x * 2u; }
fn kernel(inv: VmInvocation) {
  tile[inv.local_index] = twice(acc);
  workgroupBarrier();
}`,
    });
    expect(k.workgroupSync).toBe(true);
  });
});

describe('the public API', () => {
  test('every documented name is declared by the prelude linked with atomics', () => {
    const d = identifiers(linked({ atomics: true, replayPerInvocation: true, windowCount: 2, demand: true })).declared;
    for (const n of PUBLIC_API) expect(d, n).toContain(n);
  });

  test('a kernel using every documented name is accepted', () => {
    const calls = [...PUBLIC_API].map((n) => `  _ = ${n};`).join('\n');
    const k = createKernel({ code: `fn kernel(inv: VmInvocation) {\n${calls}\n}` });
    expect(k.usesAtomics).toBe(true);
  });

  test('struct accessors from defineStruct are accepted; forged accessor WGSL is held to the same rules', () => {
    const Node = defineStruct('Node', { key: 'u32', pos: 'vec4f', left: 'ptr' });
    createKernel({ code: 'fn kernel(inv: VmInvocation) { Node_set_key(0u, Node_key(0u)); }', structs: [Node] });
    const e = refusal(ENTRY, { structs: [{ name: 'Evil', wgsl: '\nfn Evil_x(g: u32) { vm_write_word(g, 0u); }\n' }] });
    expect(e.messages).toEqual([expect.stringMatching(/^struct Evil line 2: "vm_write_word" is internal/)]);
    expect(refusal(ENTRY, { structs: [{ name: 'B', wgsl: '@group(0) @binding(3) var<storage, read_write> w: array<u32>;' }] }).message)
      .toContain('struct B line 1: @binding(3) declares a resource binding');
  });
});

describe('comments and line breaks', () => {
  test('comments may mention anything; they make a kernel neither refused, nor atomic, nor replay-unsafe', () => {
    const k = createKernel({
      idempotent: true,
      code: `// vm_write_word(g, 0u), vm_tc_page and @group(0) @binding(3) are internal
/* vm_atomic_add_u32 /* nested: vm_w0 */ still a comment: workgroupBarrier() */
fn kernel(inv: VmInvocation) { vm_store_u32(0u, 1u); } // var<storage> x: u32;`,
    });
    expect(k.usesAtomics).toBe(false);
    expect(k.workgroupSync).toBe(false);
    expect(() => createKernel({ idempotent: true, code: 'fn kernel(inv: VmInvocation) { vm_atomic_add_u32(0u, 1u); }' })).toThrow(ReplayUnsafeError);
  });

  // WGSL ends a line comment at each of these; a scanner that waits for LF would take the call for comment text.
  test.each([['CR', '\r'], ['VT', '\v'], ['FF', '\f'], ['NEL', '\u0085'], ['LS', '\u2028'], ['PS', '\u2029'], ['CRLF', '\r\n']])(
    'a line comment ends at %s: the code after it is checked',
    (_, br) => {
      expect(refusal(`fn kernel(inv: VmInvocation) { // note${br}vm_write_word(0u, 0u);\n}`).message).toContain('"vm_write_word" is internal');
    },
  );

  test.each([['VT', '\v'], ['FF', '\f'], ['NEL', '\u0085'], ['LRM', '\u200e'], ['RLM', '\u200f'], ['LS', '\u2028'], ['PS', '\u2029']])(
    '%s is blankspace: it does not hide the name after it inside one word',
    (_, blank) => {
      expect(refusal(`fn kernel(inv: VmInvocation) { let a = 1u;${blank}vm_tc_page = 0u; }`).message).toContain('"vm_tc_page" is internal');
    },
  );

  test('nesting of block comments is followed, and an unterminated one is refused', () => {
    createKernel({ code: `/* a /* b */ vm_w0 */\n${ENTRY}` });
    expect(refusal(`/* a */ vm_w0 */\n${ENTRY}`).message).toContain('"vm_w0"');
    expect(refusal(`/* a /* b */ vm_w0 */ vm_u\n${ENTRY}`).message).toContain('"vm_u"');
    expect(refusal(`${ENTRY}/* /* */ vm_w0`).message).toContain('line 2: a /* comment is never closed');
    // `//` means nothing inside a block comment, and `/*` nothing inside a line comment.
    expect(refusal(`/* // */ vm_log\n${ENTRY}`).message).toContain('"vm_log"');
    expect(refusal(`// /*\nvm_pt\n${ENTRY}`).message).toContain('line 2: "vm_pt"');
  });

  test('a name run into a number or into other letters is looked for inside the word', () => {
    expect(refusal(`fn kernel(inv: VmInvocation) { let a = 0x1vm_w0; }`).message).toContain('"0x1vm_w0"');
    expect(refusal(`fn kernel(inv: VmInvocation) { let a = évm_w0; }`).message).toContain('"évm_w0"');
    createKernel({ code: 'fn kernel(inv: VmInvocation) { let my_vm_w0 = 1u; let abcVm = my_vm_w0; }' });
  });

  test('code points past U+FFFF: one word with the letters around them, offsets in UTF-16 units', () => {
    expect(refusal('fn kernel(inv: VmInvocation) { let a = \u{1d400}vm_w0; }').message).toContain('"\u{1d400}vm_w0"');
    const words = scanWgsl('\u{1d400}x + y\u{1d401}').tokens.map((t) => [t.text, t.start, t.end]);
    expect(words).toEqual([['\u{1d400}x', 0, 3], ['+', 4, 5], ['y\u{1d401}', 6, 9]]);
    const k = createKernel({ code: '/* \u{1d400} */ enable f16;\nfn kernel(inv: VmInvocation) {}' });
    expect(k.body).toBe('/* \u{1d400} */            \nfn kernel(inv: VmInvocation) {}');
  });
});

describe('what the runtime links is what it checked', () => {
  test('a label cannot end its comment in the linked module and inject code', () => {
    for (const br of ['\n', '\r', '\v', '\f', '\u0085', '\u2028', '\u2029']) {
      const k = createKernel({ label: `x${br}@group(0) @binding(3) var<storage, read_write> injected: array<u32>;`, code: ENTRY });
      const code = link(k, { pageShift: 12, windowCount: 1, windowWordShift: 20, demand: false, accessCounters: false, replayPerInvocation: true }).code;
      expect(scanWgsl(code).tokens.map((t) => t.text)).not.toContain('injected');
    }
  });

  test('code and structs are read once: a getter cannot show the check one text and the linker another', () => {
    let reads = 0;
    const desc = {
      get code() {
        return reads++ === 0 ? ENTRY : 'fn kernel(inv: VmInvocation) { vm_write_word(0u, 0u); }';
      },
    };
    const k = createKernel(desc);
    expect(k.code).toBe(ENTRY);
    expect(reads).toBe(1);
    let structReads = 0;
    const st = {
      name: 'S',
      get wgsl() {
        return structReads++ === 0 ? 'const S_SIZE: u32 = 4u;\n' : 'fn S_x() { vm_write_word(0u, 0u); }\n';
      },
    };
    const k2: Kernel = createKernel({ code: ENTRY, structs: [st] });
    expect(k2.structWgsl).toBe('const S_SIZE: u32 = 4u;\n');
  });
});

describe('directives', () => {
  test('enable, requires and diagnostic at the head are linked at the top of the module, lines kept', () => {
    const k = createKernel({ code: 'enable f16;\n// why\ndiagnostic(off, derivative_uniformity);\nfn kernel(inv: VmInvocation) {\n  let h = 1.0h;\n}' });
    expect(k.directives).toBe('enable f16 ;\ndiagnostic ( off , derivative_uniformity ) ;\n');
    expect(k.body.split('\n')).toHaveLength(6);
    expect(k.body).not.toMatch(/enable|diagnostic/);
    const code = link(k, { pageShift: 12, windowCount: 1, windowWordShift: 20, demand: false, accessCounters: false, replayPerInvocation: true }).code;
    expect(code.startsWith(k.directives)).toBe(true);
  });

  test('an extension outside the allowed set, and a directive after a declaration, are refused', () => {
    expect(refusal(`enable chromium_experimental_pixel_local;\n${ENTRY}`).message).toContain('enable chromium_experimental_pixel_local is not allowed');
    expect(refusal(`${ENTRY}enable f16;`).message).toContain('line 2: enable must come before every declaration');
  });
});

test('no entry function: the usual message', () => {
  expect(refusal('fn main() {}').messages[0]).toMatch(/no entry function: define `fn kernel/);
  // Only a module-scope fn counts.
  expect(refusal('fn main() { let kernel = 1u; }').messages[0]).toMatch(/no entry function/);
});
