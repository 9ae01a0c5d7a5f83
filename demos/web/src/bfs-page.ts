import { BFS_DEFAULTS, runBfsDemo } from '../../lib/bfs-demo.ts';
import { numberInput, poolControls, setupPage } from './page.ts';

const scale = numberInput('scale', undefined, BFS_DEFAULTS.scale);
const seed = numberInput('seed', 0, BFS_DEFAULTS.seed);
const controls = poolControls(
  {
    poolMiB: BFS_DEFAULTS.poolBytes / (1024 * 1024), pageKiB: BFS_DEFAULTS.pageSize / 1024, mode: 'transaction' as const,
    modeNote: 'Only a transaction applies: the kernel claims vertices with compare-exchange and appends to the next frontier (not idempotent), and no one can declare which pages a level touches.',
  },
  ['transaction'] as const,
);

setupPage('bfs-demo-device', (device, hooks) => {
  const { mode: _mode, ...pool } = controls();
  return runBfsDemo(device, { ...pool, scale: scale(), seed: seed() }, hooks);
});
