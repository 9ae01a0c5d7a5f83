// Demo: thrashing, on Node + Dawn (demos/lib/thrash-demo.ts). A working set
// larger than the pool, written in turn by GPU dispatches and by the host, so
// pages ping-pong between host and device; every page's migrations are counted
// from the event stream and the data is checked against a host computation.
//
// Usage: npm run demo:thrash -- [--working MiB] [--rounds N] [--host-every K] [--chunk KiB]
//                               [--mode declared|transaction|replay] [--pool MiB] [--page KiB] [--upload …] [--trace FILE]

import { parseArgs } from 'node:util';
import { requestNodeDevice } from '../../src/node.ts';
import { runThrashDemo, THRASH_MODES, THRASH_THRESHOLD, type ThrashMode } from '../lib/thrash-demo.ts';
import { COMMON_USAGE, commonOptions, DemoCli, num, oneOf, parseDemoArgs, poolChoice, table, whole, withoutDawnWarnings } from './cli.ts';

await withoutDawnWarnings();

const MiB = 1024 * 1024;
const USAGE = `Usage: npm run demo:thrash -- [flags]
  --working MiB       ping + pong together (default 8)
  --rounds N          GPU-then-host rounds (default 8)
  --host-every K      the host writes a word into every K-th page of the result after each round; 0: never (default 2)
  --chunk KiB         bytes of the source per dispatch (default 512)
  --mode M            declared | transaction | replay (default declared)
  --lapse MS          thrashing detector's lapse (default the runtime's, 50)
  --hold MS           how long the pin mitigation keeps a page on the GPU (default the runtime's, 500)${COMMON_USAGE}`;

const { values } = parseDemoArgs(USAGE, () => parseArgs({
  options: {
    ...commonOptions({ pool: '4', page: '4' }),
    working: { type: 'string', default: '8' },
    rounds: { type: 'string', default: '8' },
    'host-every': { type: 'string', default: '2' },
    chunk: { type: 'string', default: '512' },
    mode: { type: 'string', default: 'declared' },
    lapse: { type: 'string' },
    hold: { type: 'string' },
  },
}));
const mode = oneOf<ThrashMode>('mode', values.mode, THRASH_MODES);

const cli = new DemoCli({ trace: values.trace });
const node = await requestNodeDevice();
try {
  console.log(`webgpu-hmm thrashing on ${node.adapterName}`);
  const out = await runThrashDemo(node.device, {
    ...poolChoice(values),
    workingSetBytes: num('working', values.working) * MiB,
    rounds: whole('rounds', values.rounds, 1),
    hostEvery: whole('host-every', values['host-every']),
    chunkBytes: Math.round((num('chunk', values.chunk) * 1024) / 4) * 4,
    mode,
    ...(values.lapse !== undefined ? { thrashingLapseMs: num('lapse', values.lapse) } : {}),
    ...(values.hold !== undefined ? { thrashingPinMs: num('hold', values.hold) } : {}),
  }, cli.hooks);
  // Migrations per page, as a histogram.
  const hist = new Map<number, number>();
  for (const m of out.moves) hist.set(m, (hist.get(m) ?? 0) + 1);
  console.log('');
  console.log(table(['migrations', 'pages'], [...hist.entries()].sort((a, b) => a[0] - b[0])
    .map(([m, n]) => [`${m}${m > THRASH_THRESHOLD ? ' (thrashing)' : ''}`, String(n)])));
  cli.summary(out, [
    ['thrashing pages', `${out.thrashing} moved more than ${THRASH_THRESHOLD} times (max ${out.maxMoves})`],
    ['thrashing events', `${out.thrashingEvents} (${out.thrashingEventPages} pages named)`],
    ['data', `${out.words - out.mismatches}/${out.words} words match the host`],
  ]);
  console.log(`RESULT: ${out.summary}`);
  if (!out.ok) process.exitCode = 1;
} finally {
  cli.close();
  node.destroy();
}
