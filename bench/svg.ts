// The results as an SVG bar chart: one bar per key showing how it stands
// against its target (score = value/target for "at least" targets,
// target/value for "at most" ones, so ≥ 1 always means met), labelled with
// the measured value. Hand-written: about fifty lines of SVG did not justify a
// charting dependency that needs a DOM or a canvas in Node.

import type { CaseResult } from './lib.ts';

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function chart(results: Record<string, CaseResult>, subtitle: string): string {
  const rows = Object.entries(results);
  const W = 760;
  const left = 110;
  const right = 250;
  const rowH = 30;
  const top = 56;
  const H = top + rows.length * rowH + 30;
  const scores = rows.map(([, r]) => (r.direction === 'min' ? r.value / r.target : r.target / r.value));
  const max = Math.max(2, ...scores.map((s) => Math.min(s, 4)));
  const x = (s: number) => left + (Math.min(s, max) / max) * (W - left - right);
  const parts: string[] = [];
  parts.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  parts.push(`<rect width="${W}" height="${H}" fill="#fff"/>`);
  parts.push(`<text x="${left}" y="20" font-size="15" font-weight="bold">webgpu-hmm benchmarks: measured against target (≥ 1 = met)</text>`);
  parts.push(`<text x="${left}" y="38" fill="#555">${esc(subtitle)}</text>`);
  rows.forEach(([key, r], i) => {
    const y = top + i * rowH;
    const s = scores[i]!;
    const met = s >= 1;
    parts.push(`<text x="${left - 8}" y="${y + 17}" text-anchor="end">${esc(key)}</text>`);
    parts.push(`<rect x="${left}" y="${y + 4}" width="${Math.max(1, x(s) - left)}" height="${rowH - 10}" fill="${met ? '#3a8f4b' : '#c0392b'}"/>`);
    const v = r.value >= 100 ? r.value.toFixed(0) : r.value.toFixed(r.value >= 10 ? 1 : 3);
    parts.push(`<text x="${x(s) + 6}" y="${y + 17}">${esc(`${v} ${r.unit} (target ${r.direction === 'min' ? '≥' : '≤'} ${r.target})`)}</text>`);
  });
  parts.push(`<line x1="${x(1)}" y1="${top - 4}" x2="${x(1)}" y2="${H - 24}" stroke="#333" stroke-dasharray="4 3"/>`);
  parts.push(`<text x="${x(1)}" y="${H - 10}" text-anchor="middle" fill="#333">target</text>`);
  parts.push('</svg>');
  return parts.join('\n') + '\n';
}
