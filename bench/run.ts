// `npm run bench`: the suite on Dawn (bench/suite.ts), results written to
// bench/results/latest.json (one key per case: value, target, unit, baseline,
// runtime, plus detail), bench/results/latest.svg, and the machine in
// bench/results/latest-machine.json.
//
// Flags: --quick (fewer repetitions, smaller sizes: within 3 minutes on 2 cores),
// --only key,key, --reps N, --out DIR, --browser (run the same suite in
// Chromium instead: bench/browser.ts; results in latest-chrome.json/.svg).
// Runs as a production build (NODE_ENV=production unless set): invariant checks off.

import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import Table from 'cli-table3';

// What a user's bundled app runs: a production build, whose state modules do not check their
// invariants at every transition (src/dev.ts). `NODE_ENV=development npm run bench` measures with them.
process.env['NODE_ENV'] ??= 'production';
const { requestNodeDevice } = await import('../src/node.ts');
const { runSuite } = await import('./suite.ts');
const { chart, chartSubtitle } = await import('./svg.ts');

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    reps: { type: 'string' },
    out: { type: 'string', default: 'bench/results' },
    browser: { type: 'boolean', default: false },
  },
});
const quick = values.quick === true;
const reps = values.reps !== undefined ? Number(values.reps) : quick ? 3 : 7;
if (!Number.isInteger(reps) || reps < 1) throw new Error(`--reps must be a positive whole number, got ${values.reps}`);
const only = values.only?.split(',').map((s) => s.trim()).filter(Boolean);

const t0 = performance.now();
const base = {
  cpus: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}`,
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  node: process.version,
  date: new Date().toISOString(),
  mode: quick ? 'quick' : 'full',
  reps,
};
let results: Awaited<ReturnType<typeof runSuite>>;
let machine: Record<string, string | number>;
const suffix = values.browser ? '-chrome' : '';
if (values.browser) {
  const { runInChromium } = await import('./browser.ts');
  console.log(`webgpu-hmm benchmarks in Chromium; ${base.cpus}; ${base.mode}, median of ${reps}`);
  const run = await runInChromium({ quick, reps, only });
  results = run.results;
  machine = { adapter: run.adapter, backend: `Chromium WebGPU (${run.userAgent})`, ...base };
} else {
  const gpu = await requestNodeDevice();
  machine = { adapter: gpu.adapterName, backend: 'Dawn (node webgpu package)', ...base };
  console.log(`webgpu-hmm benchmarks on ${machine['adapter']}; ${base.cpus}; ${base.mode}, median of ${reps}`);
  results = await runSuite({ device: gpu.device, quick, reps, log: (l) => console.log(l) }, only);
  gpu.destroy();
}

mkdirSync(values.out!, { recursive: true });
writeFileSync(join(values.out!, `latest${suffix}.json`), JSON.stringify(results, null, 2) + '\n');
writeFileSync(join(values.out!, `latest${suffix}-machine.json`), JSON.stringify(machine, null, 2) + '\n');
writeFileSync(join(values.out!, `latest${suffix}.svg`), await chart(results, chartSubtitle(machine)));

const table = new Table({
  head: ['key', 'value', 'target', 'baseline', 'runtime', '', 'unit'],
  colAligns: ['left', 'right', 'left', 'right', 'right', 'left', 'left'],
  style: { head: [], border: [], compact: true },
});
for (const [k, r] of Object.entries(results)) {
  const ok = r.direction === 'min' ? r.value >= r.target : r.value <= r.target;
  const f = (v: number | null) => (v === null ? '—' : v.toFixed(3));
  table.push([k, r.value.toFixed(3), `${r.direction === 'min' ? '≥' : '≤'} ${r.target}`, f(r.baseline), f(r.runtime), ok ? 'met' : 'MISSED', r.unit]);
}
console.log(`\n${table.toString()}`);
console.log(`\nwrote ${join(values.out!, `latest${suffix}.json`)} and latest${suffix}.svg in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
