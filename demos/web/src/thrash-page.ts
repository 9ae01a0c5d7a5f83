// The thrashing page: the same workload twice, side by side — first with the
// runtime's thrashing mitigation ('pin': a page handed between host and GPU 3
// times within the lapse stays on the GPU, host writes written through), then
// with detection only — and a table of what each moved. The mitigated run goes
// first, so it pays the first run's costs (pipeline compilation): the time
// column is, if anything, unfair to it; the bytes are the same every run.

import type { DemoOutcome } from '../../lib/hooks.ts';
import { fmtBytes, fmtMs } from '../../lib/format.ts';
import { runThrashDemo, THRASH_DEFAULTS, THRASH_MODES, THRASH_THRESHOLD, type ThrashOutcome } from '../../lib/thrash-demo.ts';
import { numberInput, poolControls, setupVariants } from './page.ts';

const MiB = 1024 * 1024;
// The page's defaults: a working set that fits the pool, so that what moves is
// the host↔GPU ping-pong the mitigation is for (above the pool, eviction
// traffic dominates and no mitigation can remove it: try it).
const working = numberInput('working', undefined, 1);
const rounds = numberInput('rounds', undefined, 8);
const hostEvery = numberInput('hostEvery', 0, 1);
const chunk = numberInput('chunk', undefined, THRASH_DEFAULTS.chunkBytes / 1024);
const controls = poolControls(
  { poolMiB: 2, pageKiB: THRASH_DEFAULTS.pageSize / 1024, mode: THRASH_DEFAULTS.mode, lapseMs: 2000, pinMs: 5000, thrashing: 'compare' },
  THRASH_MODES,
);

const options = (thrashing: 'pin' | 'report') => ({
  ...controls(), thrashing, workingSetBytes: working() * MiB, rounds: Math.round(rounds()), hostEvery: Math.round(hostEvery()),
  chunkBytes: Math.round(chunk() * 1024 / 4) * 4,
});

function compare(outcomes: readonly DemoOutcome[]) {
  const [a, b] = outcomes as readonly ThrashOutcome[];
  if (!a || !b) throw new Error('the comparison needs both runs');
  const row = (what: string, f: (o: ThrashOutcome) => string) => [what, f(a), f(b)];
  const up = (o: ThrashOutcome) => o.stats.bytesToDevice;
  const saved = up(b) > 0 ? 1 - up(a) / up(b) : 0;
  return {
    ok: a.ok && b.ok,
    summary: `ok: both runs verified (${a.words} words each); to the GPU ${fmtBytes(up(a))} with mitigation, ` +
      `${fmtBytes(up(b))} without (${saved >= 0 ? `${(saved * 100).toFixed(0)} % less` : `${(-saved * 100).toFixed(0)} % more`})`,
    rows: [
      row('to the GPU', (o) => `${fmtBytes(o.stats.bytesToDevice)} (${o.stats.pagesToDevice} pages)`),
      row('to the host', (o) => `${fmtBytes(o.stats.bytesToHost)} (${o.stats.pagesToHost} pages)`),
      row('moved / data', (o) => `${((o.stats.bytesToDevice + o.stats.bytesToHost) / o.dataBytes).toFixed(2)}×`),
      row(`pages moved more than ${THRASH_THRESHOLD} times`, (o) => `${o.thrashing} of ${o.pages} (most: ${o.maxMoves})`),
      row('thrashing detected', (o) => `${o.thrashingEvents} times, ${o.thrashingEventPages} pages`),
      row('evictions', (o) => String(o.stats.evictions)),
      row('time', (o) => fmtMs(o.ms)),
    ],
  };
}

setupVariants('thrash-demo-device', [
  { key: 'pin', title: 'with mitigation (pin)', run: (device, hooks) => runThrashDemo(device, options('pin'), hooks) },
  { key: 'report', title: 'without mitigation (detect only)', run: (device, hooks) => runThrashDemo(device, options('report'), hooks) },
], { view: 'moves', compare });
