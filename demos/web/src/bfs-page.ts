import { BFS_DEFAULTS, runBfsDemo } from '../../lib/bfs-demo.ts';
import { numberInput, setupPage } from './page.ts';

const scale = numberInput('scale');
const pool = numberInput('pool');
const page = numberInput('page');
const seed = numberInput('seed', 0);

setupPage('bfs-demo-device', (device, log) =>
  runBfsDemo(device, { ...BFS_DEFAULTS, scale: scale(), poolBytes: pool() * 1024 * 1024, pageSize: page() * 1024, seed: seed() }, log));
