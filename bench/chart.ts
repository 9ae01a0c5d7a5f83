// `npm run bench:chart`: draw bench/results/latest.svg (and latest-chrome.svg,
// where there are Chromium results) again from the JSON the last run wrote,
// without measuring anything: for a change to the chart itself.

import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import type { CaseResult } from './lib.ts';
import { chart, chartSubtitle } from './svg.ts';

const { values } = parseArgs({ options: { out: { type: 'string', default: 'bench/results' } } });
const dir = values.out;
let drawn = 0;
for (const suffix of ['', '-chrome']) {
  const results = join(dir, `latest${suffix}.json`);
  if (!existsSync(results)) continue;
  const machine = join(dir, `latest${suffix}-machine.json`);
  const svg = await chart(
    JSON.parse(readFileSync(results, 'utf8')) as Record<string, CaseResult>,
    chartSubtitle(existsSync(machine) ? JSON.parse(readFileSync(machine, 'utf8')) as Record<string, string | number> : {}),
  );
  writeFileSync(join(dir, `latest${suffix}.svg`), svg);
  console.log(`wrote ${join(dir, `latest${suffix}.svg`)}`);
  drawn++;
}
if (drawn === 0) throw new Error(`no latest.json in ${dir}: run \`npm run bench\` first`);
