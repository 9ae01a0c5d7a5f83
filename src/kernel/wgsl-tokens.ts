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
// and blankspace separate tokens and are dropped. There is no parser behind
// it to disagree with Dawn's: anything else that is not WGSL becomes a token
// and is left for the compiler to report, and the one error reported here, a
// block comment never closed, Dawn reports as well.

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

/** XID_Continue, with ASCII (all of WGSL's own text) decided without a regex. */
function isWordChar(cp: number): boolean {
  if (cp < 0x80) return (cp >= 0x30 && cp <= 0x39) || (cp >= 0x41 && cp <= 0x5a) || (cp >= 0x61 && cp <= 0x7a) || cp === 0x5f;
  return WORD_CHAR.test(String.fromCodePoint(cp));
}

export function scanWgsl(source: string): WgslScan {
  const tokens: WgslToken[] = [];
  const n = source.length;
  // Offsets are UTF-16 units; a code point past U+FFFF (an identifier may hold one) takes two.
  const at = (i: number) => source.codePointAt(i)!;
  const width = (cp: number) => (cp > 0xffff ? 2 : 1);
  let line = 1;
  let i = 0;
  while (i < n) {
    const cp = at(i);
    if (BLANK.has(cp)) {
      if (cp === 0x0a) line++;
      i++;
    } else if (cp === 0x2f && source.charCodeAt(i + 1) === 0x2f) {
      i += 2;
      while (i < n && !LINE_BREAK.has(source.charCodeAt(i))) i++;
    } else if (cp === 0x2f && source.charCodeAt(i + 1) === 0x2a) {
      // Block comments nest; `//` means nothing inside one.
      const startLine = line;
      let level = 1;
      i += 2;
      while (level > 0) {
        if (i >= n) return { tokens, error: `line ${startLine}: a /* comment is never closed` };
        const d = source.charCodeAt(i);
        if (d === 0x0a) line++;
        if (d === 0x2f && source.charCodeAt(i + 1) === 0x2a) {
          level++;
          i += 2;
        } else if (d === 0x2a && source.charCodeAt(i + 1) === 0x2f) {
          level--;
          i += 2;
        } else {
          i++;
        }
      }
    } else if (isWordChar(cp)) {
      const start = i;
      let c = cp;
      do {
        i += width(c);
      } while (i < n && isWordChar((c = at(i))));
      tokens.push({ kind: 'word', text: source.slice(start, i), line, start, end: i });
    } else {
      const end = i + width(cp);
      tokens.push({ kind: 'punct', text: source.slice(i, end), line, start: i, end });
      i = end;
    }
  }
  return { tokens, error: null };
}
