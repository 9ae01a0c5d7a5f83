// The results as an SVG chart (bench/results/latest*.svg): one bar per case,
// in plain words, showing how the measurement stands against its target on a
// log axis where 1 is "exactly on target" and right of it is better, whatever
// the case's direction (for "at most" targets the bar is target / value, for
// "at least" ones value / target). Each bar is labelled with the measured
// value and the target in the case's own unit.
//
// Drawn with Vega-Lite, rendered to SVG by Vega in Node without a DOM or a
// canvas: axes, ticks, the legend and label placement come from the library
// (the hand-written SVG this replaces had no axis).

import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { CaseResult } from './lib.ts';

/** What each case measures, in words (bench/suite.ts has the details; docs/benchmarks.md the method). */
const PLAIN: Record<string, string> = {
  upload: 'Upload 64 MiB: speed vs hand-written',
  readback: 'Read back 64 MiB: speed vs hand-written',
  resident: 'Kernel on resident data: time vs plain buffer',
  oversub: 'Data 4× the pool: time vs double buffering',
  demand: 'Demand-paged gather: time vs declared',
  faults: 'Round trips per batch of page faults',
  pagetable: 'Page-table updates per second (CPU)',
  metadata: 'Page-table bytes per page',
};

/** Units as they read after a number. */
const UNIT: Record<string, string> = {
  'throughput ratio': '× the hand-written speed',
  'time ratio': '× the baseline\u2019s time',
  'round trips per batch': 'round trips per batch',
  'M updates/s': 'million updates/s',
  'bytes per page': 'bytes per page',
};

function fmt(v: number): string {
  return v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2);
}

/** The chart's rows: one per case. */
export function chartRows(results: Readonly<Record<string, CaseResult>>) {
  return Object.entries(results).map(([key, r]) => {
    const score = r.direction === 'min' ? r.value / r.target : r.target / r.value;
    const unit = UNIT[r.unit] ?? r.unit;
    return {
      key,
      what: PLAIN[key] ?? key,
      // Kept inside the axis: a case far past its target still shows as a long bar.
      score: Math.min(Math.max(score, 0.2), 5),
      status: score >= 1 ? 'target met' : 'target missed',
      label: `${fmt(r.value)} ${unit} (target ${r.direction === 'min' ? '≥' : '≤'} ${r.target})`,
    };
  });
}

export function chartSpec(results: Readonly<Record<string, CaseResult>>, subtitle: string): TopLevelSpec {
  const rows = chartRows(results);
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: { text: 'webgpu-hmm benchmarks: each measurement against its target', subtitle, anchor: 'start' },
    width: 420,
    height: { step: 30 },
    background: 'white',
    config: {
      font: 'sans-serif', axis: { labelFontSize: 12, titleFontSize: 12 }, axisY: { labelLimit: 480 },
      legend: { labelFontSize: 12, titleFontSize: 12 },
    },
    data: { values: rows },
    encoding: {
      y: { field: 'what', type: 'nominal', sort: null, title: null },
    },
    layer: [
      {
        mark: { type: 'bar', height: 18 },
        encoding: {
          x: {
            field: 'score', type: 'quantitative',
            scale: { type: 'log', domain: [0.2, 5], nice: false },
            axis: { values: [0.25, 0.5, 1, 2, 4], format: '~g', grid: true },
            title: 'measurement against target (1 = on target; right of it = better)',
          },
          // A log axis has no zero: bars start at its left end.
          x2: { datum: 0.2 },
          color: {
            field: 'status', type: 'nominal', title: null,
            scale: { domain: ['target met', 'target missed'], range: ['#3a8f4b', '#c0392b'] },
            legend: { orient: 'top', direction: 'horizontal' },
          },
        },
      },
      {
        mark: { type: 'text', align: 'left', dx: 4, fontSize: 11 },
        encoding: { x: { field: 'score', type: 'quantitative' }, text: { field: 'label' } },
      },
      {
        data: { values: [{ target: 1 }] },
        mark: { type: 'rule', strokeDash: [4, 3], color: '#333' },
        encoding: { x: { field: 'target', type: 'quantitative' }, y: { value: 0 }, y2: { value: { expr: 'height' } } },
      },
    ],
  };
}

/** The subtitle from bench/results/latest*-machine.json: adapter · CPUs · date · full or quick. */
export function chartSubtitle(machine: Readonly<Record<string, string | number | undefined>>): string {
  return `${machine['adapter']} · ${machine['cpus']} · ${String(machine['date'] ?? '').slice(0, 10)} · ${machine['mode']}`;
}

export async function chart(results: Readonly<Record<string, CaseResult>>, subtitle: string): Promise<string> {
  const view = new vega.View(vega.parse(compile(chartSpec(results, subtitle)).spec), { renderer: 'none' });
  try {
    return (await view.toSVG()) + '\n';
  } finally {
    view.finalize();
  }
}
