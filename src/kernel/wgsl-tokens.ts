// WGSL's lexical structure, as the spec draws it and Dawn compiles it: the
// token stream that the kernel source rules (src/kernel/source-rules.ts) judge.
// It is the security boundary of kernel isolation, so it must never see less
// code than the compiler does: where it errs, it errs towards seeing more.
//
// Why not a kept WGSL library: wgsl_reflect 1.6 (pure JS, maintained) was the
// candidate, but its scanner (WgslScanner.scanToken) ends a `//` comment only
// at LF and takes VT, FF, NEL, LRM, RLM, LS and PS for identifier characters,
// while Dawn ends a line comment at every WGSL line break and skips those as
// blankspace (test/kernel/wgsl-tokens.dawn.test.ts checks Dawn's side, and
// this lexer's agreement with it). `// x<CR>vm_write_word(0u, 0u);` would pass
// a check built on that scanner and reach the compiler as code. WGSL's
// lexical grammar is one page of the spec — no strings, no escapes, keywords
// reserved — and the rules need nothing more than its tokens, so it is
// implemented here, exactly, and checked against Dawn.
//
// Tokens: words (maximal runs of XID_Continue code points: identifiers,
// keywords and numeric literals) and single-character punctuation. Comments
// and blankspace separate tokens and are dropped.

export interface WgslToken {
  /** A word (identifier, keyword or number) or one punctuation character. */
  readonly kind: 'word' | 'punct';
  readonly text: string;
  /** 1-based line (counted at LF, as editors and Dawn's messages count). */
  readonly line: number;
  /** UTF-16 offsets of the token in the source: [start, end). */
  readonly start: number;
  readonly end: number;
}

export interface WgslScan {
  readonly tokens: readonly WgslToken[];
  /** Set when the text cannot be tokenized (an unterminated block comment). */
  readonly error: string | null;
}

/** WGSL blankspace: Pattern_White_Space. */
const BLANK = new Set([0x20, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x85, 0x200e, 0x200f, 0x2028, 0x2029]);
/** WGSL line breaks: each ends a `//` comment. */
const LINE_BREAK = new Set([0x0a, 0x0b, 0x0c, 0x0d, 0x85, 0x2028, 0x2029]);
const WORD_CHAR = /^\p{XID_Continue}$/u;
const ASCII_WORD = /^[A-Za-z0-9_]$/;

function isWordChar(c: string): boolean {
  return c.length === 1 && c.charCodeAt(0) < 0x80 ? ASCII_WORD.test(c) : WORD_CHAR.test(c);
}

export function scanWgsl(source: string): WgslScan {
  const tokens: WgslToken[] = [];
  // Code points, not UTF-16 units: an identifier may hold astral characters.
  const cps = Array.from(source);
  // UTF-16 offset of each code point, and of the end.
  const offset: number[] = [];
  let o = 0;
  for (const c of cps) {
    offset.push(o);
    o += c.length;
  }
  offset.push(o);
  let line = 1;
  let i = 0;
  while (i < cps.length) {
    const c = cps[i]!;
    const cp = c.codePointAt(0)!;
    if (BLANK.has(cp)) {
      if (cp === 0x0a) line++;
      i++;
    } else if (c === '/' && cps[i + 1] === '/') {
      i += 2;
      while (i < cps.length && !LINE_BREAK.has(cps[i]!.codePointAt(0)!)) i++;
    } else if (c === '/' && cps[i + 1] === '*') {
      // Block comments nest; `//` means nothing inside one.
      const startLine = line;
      let level = 1;
      i += 2;
      while (level > 0) {
        if (i >= cps.length) return { tokens, error: `line ${startLine}: a /* comment is never closed` };
        const d = cps[i]!;
        if (d === '\n') line++;
        if (d === '/' && cps[i + 1] === '*') {
          level++;
          i += 2;
        } else if (d === '*' && cps[i + 1] === '/') {
          level--;
          i += 2;
        } else {
          i++;
        }
      }
    } else if (isWordChar(c)) {
      const start = i;
      while (i < cps.length && isWordChar(cps[i]!)) i++;
      tokens.push({ kind: 'word', text: cps.slice(start, i).join(''), line, start: offset[start]!, end: offset[i]! });
    } else {
      tokens.push({ kind: 'punct', text: c, line, start: offset[i]!, end: offset[i + 1]! });
      i++;
    }
  }
  return { tokens, error: null };
}
