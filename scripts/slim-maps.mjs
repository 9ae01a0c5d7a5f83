// After `tsc -p tsconfig.build.json`: the source maps embed the TypeScript they
// map to (the package does not ship src/), and most of those bytes are
// comments, which the published declarations carry already. Blank every
// comment in each map's sourcesContent, keeping its line breaks so every
// mapping still points at the same line (the package must install in under
// 2 MB: test/package/pack.dawn.test.ts).
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';

function blankComments(source) {
  // Every comment range attached to a node (leading or trailing), found by walking the syntax tree,
  // so that comment-like text inside strings and template literals is never touched.
  const sf = ts.createSourceFile('x.ts', source, ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const ranges = new Map();
  const note = (list) => { for (const r of list ?? []) ranges.set(r.pos, r.end); };
  const visit = (node) => {
    note(ts.getLeadingCommentRanges(source, node.pos));
    note(ts.getTrailingCommentRanges(source, node.end));
    ts.forEachChild(node, visit);
  };
  visit(sf);
  note(ts.getLeadingCommentRanges(source, sf.endOfFileToken.pos));
  let out = '';
  let last = 0;
  for (const [pos, end] of [...ranges].sort((a, b) => a[0] - b[0])) {
    if (pos < last) continue;
    out += source.slice(last, pos) + source.slice(pos, end).replace(/[^\n]/g, '');
    last = end;
  }
  return out + source.slice(last);
}

function* maps(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yield* maps(p);
    else if (name.endsWith('.js.map')) yield p;
  }
}

let before = 0;
let after = 0;
for (const file of maps(process.argv[2] ?? 'dist')) {
  const text = readFileSync(file, 'utf8');
  const map = JSON.parse(text);
  map.sourcesContent = (map.sourcesContent ?? []).map((s) => (typeof s === 'string' ? blankComments(s) : s));
  const slim = JSON.stringify(map);
  before += text.length;
  after += slim.length;
  writeFileSync(file, slim);
}
console.error(`[slim-maps] source maps ${(before / 1024).toFixed(0)} KiB → ${(after / 1024).toFixed(0)} KiB (comments blanked)`);
