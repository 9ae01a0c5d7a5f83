// The architecture, checked (docs/architecture.md draws it): which folder of
// src/ may import which — layers point down only, device/ imports nothing from
// the layers above it — and who may write the state of the page table and
// the frame table (their own modules, through their transitions). The
// TypeScript types already refuse such writes (read-only views); this test
// also catches a cast around them, and an import that sneaks a layer upward.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = join(import.meta.dirname, '..', 'src');

/** Every layer and what it may import (besides itself). `base` is the files at the top of src/ other than the entries. */
const MAY_IMPORT: Record<string, readonly string[]> = {
  base: ['gpu'],
  gpu: [],
  notify: ['base'],
  kernel: ['base', 'gpu'],
  layout: ['base'],
  device: ['base', 'gpu'],
  space: ['base', 'gpu', 'device', 'notify'],
  policy: ['base', 'device', 'space'],
  migrate: ['base', 'gpu', 'device', 'space', 'policy', 'notify'],
  fault: ['base', 'gpu', 'device', 'space', 'policy', 'migrate', 'notify', 'kernel'],
  trace: ['base', 'device', 'space'],
  api: ['base', 'gpu', 'device', 'space', 'policy', 'migrate', 'fault', 'notify', 'kernel', 'layout', 'trace'],
  entry: ['base', 'gpu', 'device', 'space', 'policy', 'migrate', 'fault', 'notify', 'kernel', 'layout', 'trace', 'api', 'node'],
  // Node-only modules (node:fs): reachable from node.ts alone, never from the browser entry.
  node: ['base', 'gpu', 'device', 'space', 'policy', 'migrate', 'fault', 'notify', 'kernel', 'layout', 'trace', 'api'],
};

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p) : p.endsWith('.ts') ? [p] : [];
  });
}

function layerOf(file: string): string {
  const rel = relative(SRC, file).split(/[\\/]/);
  if (rel.length > 1) return rel[0]!;
  return rel[0] === 'index.ts' || rel[0] === 'node.ts' ? 'entry' : 'base';
}

/** Relative imports of a file (static, dynamic and type-only alike). */
function importsOf(file: string): string[] {
  const src = readFileSync(file, 'utf8');
  const out: string[] = [];
  for (const m of src.matchAll(/(?:\bfrom|\bimport)\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) out.push(normalize(join(dirname(file), m[1]!)));
  return out;
}

const all = files(SRC);

describe('layers point down only', () => {
  it('every folder of src/ has a layer', () => {
    for (const f of all) expect(MAY_IMPORT[layerOf(f)], relative(SRC, f)).toBeDefined();
  });

  it('no file imports a layer it may not (device/ nothing above it; the barrel nothing but the entries)', () => {
    const bad: string[] = [];
    for (const f of all) {
      const from = layerOf(f);
      for (const t of importsOf(f)) {
        if (!t.startsWith(SRC)) continue;
        const to = layerOf(t);
        if (to === from) continue;
        if (to === 'entry' || !MAY_IMPORT[from]!.includes(to)) bad.push(`${relative(SRC, f)} (${from}) imports ${relative(SRC, t)} (${to})`);
      }
    }
    expect(bad).toEqual([]);
  });

  it('the browser entry never reaches src/node/ nor a node: module (only node.ts does)', () => {
    const seen = new Set<string>();
    const nodeImports: string[] = [];
    const visit = (f: string): void => {
      if (seen.has(f)) return;
      seen.add(f);
      const src = readFileSync(f, 'utf8');
      for (const m of src.matchAll(/(?:\bfrom|\bimport)\s*\(?\s*['"](node:[^'"]+)['"]/g)) nodeImports.push(`${relative(SRC, f)}: ${m[1]}`);
      for (const t of importsOf(f)) if (t.startsWith(SRC)) visit(t);
    };
    visit(join(SRC, 'index.ts'));
    expect([...seen].filter((f) => layerOf(f) === 'node')).toEqual([]);
    expect(nodeImports).toEqual([]);
    // …and the check sees node.ts reach it.
    seen.clear();
    visit(join(SRC, 'node.ts'));
    expect([...seen].some((f) => layerOf(f) === 'node')).toBe(true);
  });

  it('the check itself catches an upward import (device/ importing space/)', () => {
    const from = 'device';
    expect(MAY_IMPORT[from]!.includes('space')).toBe(false);
    expect(MAY_IMPORT[from]!.includes('migrate')).toBe(false);
    expect(MAY_IMPORT[from]!.includes('policy')).toBe(false);
    expect(MAY_IMPORT[from]!.includes('fault')).toBe(false);
  });
});

/** Writes to a page-table or frame-table array: `x.state[p] = …`, `x.pins[p]++`, `--x.frame[p]`, `x.flags[p] |= …`, `.fill(`/`.set(` on them. */
const ARRAYS = {
  'space/page-table.ts': ['state', 'flags', 'frame', 'pins', 'toDevice', 'toHost', 'dirtiedBy'],
  'device/frames.ts': ['owner', 'page', 'referenced'],
} as const;

function writesTo(src: string, names: readonly string[]): string[] {
  const n = names.join('|');
  // `this.x[…]` is a class's own field of the same name (the ledger's toDevice), never the table's (its arrays are #private).
  const patterns = [
    new RegExp(`(?<!\\bthis)\\.(${n})\\[[^\\]]*\\]!?\\s*(=(?!=)|\\+\\+|--|[-+*/|&^]=)`, 'g'),
    new RegExp(`(\\+\\+|--)\\s*(?!this\\.)[\\w.#]+\\.(${n})\\[`, 'g'),
    new RegExp(`(?<!\\bthis)\\.(${n})\\.(fill|set|copyWithin)\\(`, 'g'),
  ];
  return patterns.flatMap((re) => [...src.matchAll(re)].map((m) => m[0]));
}

describe('state changes only through its owner', () => {
  for (const [owner, names] of Object.entries(ARRAYS)) {
    it(`no file but ${owner} writes its arrays (${names.join(', ')})`, () => {
      const bad: string[] = [];
      for (const f of all) {
        if (relative(SRC, f).replace(/\\/g, '/') === owner) continue;
        for (const w of writesTo(readFileSync(f, 'utf8'), names)) bad.push(`${relative(SRC, f)}: ${w}`);
      }
      expect(bad).toEqual([]);
    });
  }

  it('the check itself catches each form of write', () => {
    const names = ARRAYS['space/page-table.ts'];
    expect(writesTo('t.state[p] = 1;', names)).toHaveLength(1);
    expect(writesTo('t.pins[p]!++;', names)).toHaveLength(1);
    expect(writesTo('--space.table.pins[p];', names)).toHaveLength(1);
    expect(writesTo('t.flags[p] |= 4;', names)).toHaveLength(1);
    expect(writesTo('t.frame.fill(0);', names)).toHaveLength(1);
    expect(writesTo('if (t.state[p] === 2) x = t.frame[p];', names)).toHaveLength(0);
    expect(writesTo('this.toDevice[i]! += 1;', names)).toHaveLength(0);
  });
});
