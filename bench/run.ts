// `npm run bench`: the suite on Dawn (bench/suite.ts), results written to
// bench/results/latest.json (one key per case: value, target, unit, baseline,
// runtime, plus detail), bench/results/latest.svg, and the machine in
// bench/results/latest-machine.json.
//
// Flags: --quick (fewer repetitions, smaller sizes: within 3 minutes on 2 cores),
// --only key,key, --reps N, --out DIR.

import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { requestNodeDevice } from '../src/node.ts';
import { runSuite } from './suite.ts';
import { chart } from './svg.ts';

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    reps: { type: 'string' },
    out: { type: 'string', default: 'bench/results' },
  },
});
const quick = values.quick === true;
const reps = values.reps !== undefined ? Number(values.reps) : quick ? 3 : 7;
if (!Number.isInteger(reps) || reps < 1) throw new Error(`--reps must be a positive whole number, got ${values.reps}`);
const only = values.only?.split(',').map((s) => s.trim()).filter(Boolean);

const t0 = performance.now();
const gpu = await requestNodeDevice();
const machine = {
  adapter: gpu.adapterName,
  backend: 'Dawn (node webgpu package)',
  cpus: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown'}`,
  memoryGiB: Math.round(totalmem() / 2 ** 30),
  node: process.version,
  date: new Date().toISOString(),
  mode: quick ? 'quick' : 'full',
  reps,
};
console.log(`webgpu-hmm benchmarks on ${machine.adapter}; ${machine.cpus}; ${machine.mode}, median of ${reps}`);
const results = await runSuite({ device: gpu.device, quick, reps, log: (l) => console.log(l) }, only);
gpu.destroy();

mkdirSync(values.out!, { recursive: true });
writeFileSync(join(values.out!, 'latest.json'), JSON.stringify(results, null, 2) + '\n');
writeFileSync(join(values.out!, 'latest-machine.json'), JSON.stringify(machine, null, 2) + '\n');
writeFileSync(join(values.out!, 'latest.svg'), chart(results, `${machine.adapter} · ${machine.cpus} · ${machine.date.slice(0, 10)} · ${machine.mode}`));

console.log('\nkey         value        target        baseline     runtime');
for (const [k, r] of Object.entries(results)) {
  const ok = r.direction === 'min' ? r.value >= r.target : r.value <= r.target;
  const f = (v: number | null) => (v === null ? '—' : v.toFixed(3));
  console.log(`${k.padEnd(11)} ${r.value.toFixed(3).padStart(8)}  ${(r.direction === 'min' ? '≥ ' : '≤ ') + String(r.target).padEnd(8)}  ${f(r.baseline).padStart(10)}  ${f(r.runtime).padStart(10)}  ${ok ? 'met' : 'MISSED'}  ${r.unit}`);
}
console.log(`\nwrote ${join(values.out!, 'latest.json')} and latest.svg in ${((performance.now() - t0) / 1000).toFixed(0)} s`);
