// The loop exits linked into demand variants (src/kernel/stall-exit.ts): where they go, and where not.
import { describe, expect, it } from 'vitest';
import { stallExitsApply, withStallExits } from '../../src/kernel/stall-exit.ts';
import { link, type LinkConfig } from '../../src/kernel/link.ts';
import { createKernel } from '../../src/index.ts';

const EXIT = 'if (vm_quit()) { break; }';
const count = (s: string) => s.split(EXIT).length - 1;

describe('withStallExits', () => {
  it('opens every loop, for and while body with the exit, and nothing else', () => {
    const src = [
      'fn f(n: u32) -> u32 {',
      '  var s = 0u;',
      '  for (var i = 0u; i < n; i++) { s += i; }',
      '  while (s > 3u) { s -= 2u; }',
      '  while s > 100u { s = 0u; }',
      '  loop {',
      '    if (s == 0u) { break; }',
      '    s--;',
      '    continuing { s = s; }',
      '  }',
      '  if (s == 1u) { s = 2u; }',
      '  return s;',
      '}',
    ].join('\n');
    const out = withStallExits(src);
    expect(count(out)).toBe(4);
    expect(out).toContain(`for (var i = 0u; i < n; i++) { ${EXIT} s += i; }`);
    expect(out).toContain(`while (s > 3u) { ${EXIT} s -= 2u; }`);
    expect(out).toContain(`while s > 100u { ${EXIT} s = 0u; }`);
    expect(out).toContain(`loop { ${EXIT}\n`);
    expect(out).toContain('continuing { s = s; }'); // a continuing block may not break: untouched
    expect(out).toContain('if (s == 1u) { s = 2u; }');
    // Line breaks kept: compile errors still name the user's lines.
    expect(out.split('\n').length).toBe(src.split('\n').length);
  });

  it('finds the body past attributes and the for header\'s parentheses', () => {
    const out = withStallExits('for (var i = 0u; i < f(2u); i++) @diagnostic(off, derivative_uniformity) { x(); }');
    expect(out).toBe(`for (var i = 0u; i < f(2u); i++) @diagnostic(off, derivative_uniformity) { ${EXIT} x(); }`);
  });

  it('ignores the words in comments and identifiers that contain them', () => {
    const src = '// loop { for while\nfn looping() { let forward = 1u; /* while { */ }';
    expect(withStallExits(src)).toBe(src);
  });

  it('returns text it cannot scan as it came (the compiler reports it)', () => {
    const src = 'loop { /* never closed';
    expect(withStallExits(src)).toBe(src);
  });
});

describe('which kernels get the exits', () => {
  const cfg = (demand: boolean): LinkConfig => ({
    pageShift: 12, windowCount: 1, windowWordShift: 20, demand, replayPerInvocation: true, accessCounters: false,
  });
  const plain = createKernel({ label: 'plain', code: 'fn kernel(inv: VmInvocation) { for (var i = 0u; i < 4u; i++) { vm_store_u32(i * 4u, i); } }' });
  const synced = createKernel({
    label: 'synced',
    code: 'var<workgroup> t: u32;\nfn kernel(inv: VmInvocation) { for (var i = 0u; i < 4u; i++) { workgroupBarrier(); } }',
  });
  const sub = createKernel({ label: 'sub', code: 'enable subgroups;\nfn kernel(inv: VmInvocation) { for (var i = 0u; i < 4u; i++) { } }' });

  it('the demand variants of a kernel without workgroup synchronization or subgroups', () => {
    expect(stallExitsApply(plain)).toBe(true);
    expect(count(link(plain, cfg(true)).code)).toBe(1);
  });

  it('in an idempotent kernel\'s variants, loop and while only: a counted for loop ends by itself and runs at the declared speed', () => {
    const both = createKernel({
      label: 'both', idempotent: true,
      code: 'fn kernel(inv: VmInvocation) { for (var i = 0u; i < 4u; i++) { } var p = 1u; while (p != 0u) { p = vm_load_u32(p); } }',
    });
    expect(count(link(both, { ...cfg(true), replay: true, firstPass: true }).code)).toBe(1);
    expect(count(link(both, { ...cfg(true), replay: true }).code)).toBe(1);
    expect(count(link(both, cfg(true)).code)).toBe(2); // (linked as a transaction's: every loop)
    expect(withStallExits('for (;;) { } loop { } while true { }', 'uncounted')).toBe(`for (;;) { } loop { ${EXIT} } while true { ${EXIT} }`);
  });

  it('never the declared variant: it never stalls', () => {
    expect(count(link(plain, cfg(false)).code)).toBe(0);
  });

  it('never a kernel whose loops may hold a barrier or a subgroup operation (uniformity)', () => {
    expect(stallExitsApply(synced)).toBe(false);
    expect(stallExitsApply(sub)).toBe(false);
    expect(count(link(synced, { ...cfg(true), replayPerInvocation: false }).code)).toBe(0);
    expect(count(link(sub, cfg(true)).code)).toBe(0);
  });
});
