import { runThrashDemo, THRASH_DEFAULTS, THRASH_MODES } from '../../lib/thrash-demo.ts';
import { numberInput, poolControls, setupPage } from './page.ts';

const MiB = 1024 * 1024;
const working = numberInput('working', undefined, THRASH_DEFAULTS.workingSetBytes / MiB);
const rounds = numberInput('rounds', undefined, THRASH_DEFAULTS.rounds);
const hostEvery = numberInput('hostEvery', 0, THRASH_DEFAULTS.hostEvery);
const chunk = numberInput('chunk', undefined, THRASH_DEFAULTS.chunkBytes / 1024);
const controls = poolControls(
  { poolMiB: THRASH_DEFAULTS.poolBytes / MiB, pageKiB: THRASH_DEFAULTS.pageSize / 1024, mode: THRASH_DEFAULTS.mode },
  THRASH_MODES,
);

setupPage('thrash-demo-device', (device, hooks) =>
  runThrashDemo(device, {
    ...controls(), workingSetBytes: working() * MiB, rounds: Math.round(rounds()), hostEvery: Math.round(hostEvery()),
    chunkBytes: Math.round(chunk() * 1024 / 4) * 4,
  }, hooks), { view: 'moves' });
