// The kernel source rules are only as good as the lexer under them: it must
// see as code everything Dawn compiles as code. Each case hides or shows an
// undeclared name behind comments, line breaks and blankspace; Dawn reports
// the name unresolved exactly when scanWgsl (src/kernel/wgsl-tokens.ts) sees it.

import { expect } from 'vitest';
import { testWithDevice } from '../helpers/gpu.ts';
import { scanWgsl } from '../../src/kernel/wgsl-tokens.ts';

const PROBE = 'zz_probe';
const LINE_BREAKS: readonly [string, string][] = [['LF', '\n'], ['CR', '\r'], ['CRLF', '\r\n'], ['VT', '\v'], ['FF', '\f'], ['NEL', '\u0085'], ['LS', '\u2028'], ['PS', '\u2029']];
const BLANKS: readonly [string, string][] = [['VT', '\v'], ['FF', '\f'], ['NEL', '\u0085'], ['LRM', '\u200e'], ['RLM', '\u200f'], ['LS', '\u2028'], ['PS', '\u2029']];

/** [what, a statement list placed in a function body, whether the probe is code]. */
const cases: [string, string, boolean][] = [
  ...LINE_BREAKS.map(([n, br]): [string, string, boolean] => [`// comment ended by ${n}`, `// note${br}${PROBE} = 1u;`, true]),
  ...BLANKS.map(([n, b]): [string, string, boolean] => [`${n} between statements`, `p = 1u;${b}${PROBE} = 1u;`, true]),
  ['line comment', `// ${PROBE} = 1u;`, false],
  ['block comment', `/* ${PROBE} = 1u; */`, false],
  ['nested block comment', `/* a /* b */ ${PROBE} = 1u; */`, false],
  ['after a closed nested comment', `/* a /* b */ */ ${PROBE} = 1u;`, true],
  ['// inside a block comment means nothing', `/* // */ ${PROBE} = 1u;`, true],
  ['/* inside a line comment means nothing', `// /*\n${PROBE} = 1u;`, true],
  ['/*/ opens a comment only', `/*/ ${PROBE} = 1u; */`, false],
  ['/**/ is a whole comment', `/**/${PROBE} = 1u;`, true],
  ['/* **/ closes', `/* **/ ${PROBE} = 1u;`, true],
  ['line breaks inside a block comment', `/* \r ${PROBE} \u2028 */ p = 1u;`, false],
];

testWithDevice('scanWgsl sees a name as code exactly when Dawn compiles it as code', async (ctx) => {
  for (const [what, body, visible] of cases) {
    const code = `var<private> p: u32;\nfn f() {\n${body}\n}\n`;
    ctx.device.pushErrorScope('validation');
    const module = ctx.device.createShaderModule({ code });
    const info = await module.getCompilationInfo();
    await ctx.device.popErrorScope();
    const errors = info.messages.filter((m) => m.type === 'error').map((m) => m.message);
    const dawnSees = errors.some((m) => m.includes(PROBE));
    const weSee = scanWgsl(code).tokens.some((t) => t.text === PROBE);
    expect({ what, dawnSees, weSee }).toEqual({ what, dawnSees: visible, weSee: visible });
    // Nothing else is wrong with the module: the case tests only what it means to.
    if (!visible) expect(errors, what).toEqual([]);
  }
});
