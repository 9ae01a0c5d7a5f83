// `npm run bench:curve -- [--factors 0.5,1.1,1.5,2,3] [--patterns …] [--pool MiB] [--reps N]`:
// the oversubscription curve (bench/demand-curve.ts) as a table: per pattern and
// factor, each mode's bandwidth relative to resident, demand over declared,
// passes and slices, bytes to the device per data byte; and the same demand
// dispatch as the kernel's first on the space (nothing known from a run before).

import { parseArgs } from 'node:util';
import { requestNodeDevice } from '../src/node.ts';
import { measureCell, PATTERNS, type Pattern } from './demand-curve.ts';
import { MiB } from './lib.ts';

const { values } = parseArgs({
  options: {
    factors: { type: 'string', default: '0.5,1.1,1.5,2,3' },
    patterns: { type: 'string', default: PATTERNS.join(',') },
    pool: { type: 'string', default: '16' },
    reps: { type: 'string', default: '3' },
  },
});
const factors = values.factors!.split(',').map(Number);
const patterns = values.patterns!.split(',') as Pattern[];
const node = await requestNodeDevice();
const ctx = { device: node.device, quick: false, reps: Number(values.reps), log: (l: string) => console.log(l) };
console.log(`oversubscription curve, pool ${values.pool} MiB of 64 KiB pages; bandwidth relative to resident, median of ${values.reps}`);
console.log('pattern        ×    demand  +hints  declared  dem/decl  passes/slices  bytes/B   first  first/decl  passes/slices');
for (const pattern of patterns) {
  for (const factor of factors) {
    const c = await measureCell(ctx, Number(values.pool) * MiB, pattern, factor);
    console.log(`${pattern.padEnd(13)} ${String(factor).padStart(4)}  ${c.bandwidth.demand.toFixed(2).padStart(6)}  ${c.bandwidth['demand+hints'].toFixed(2).padStart(6)}  ` +
      `${c.bandwidth.declared.toFixed(2).padStart(8)}  ${(c.bandwidth.demand / c.bandwidth.declared).toFixed(2).padStart(8)}  ` +
      `${`${c.passes.demand}/${c.slices.demand}`.padStart(13)}  ${c.bytesPerByte.demand.toFixed(2).padStart(7)}  ` +
      `${c.bandwidth.first.toFixed(2).padStart(6)}  ${(c.bandwidth.first / c.bandwidth.declared).toFixed(2).padStart(10)}  ${`${c.passes.first}/${c.slices.first}`.padStart(13)}`);
  }
}
node.destroy();
