// The main demo: out-of-core streaming on Node + Dawn (demos/lib/stream-demo.ts).
//
// A data set several times larger than the device pool lives in one virtual
// address space. Pass 1 transforms it in place on the GPU (x = x * 3 + i),
// chunk by chunk, with declared write ranges: the pool fills, and dirty pages
// are written back as they are evicted. Pass 2 reduces it (a wrapping u32 sum
// and an xor, exact in any order) with declared read ranges: clean pages are
// dropped without a copy. The host checks both against a CPU computation.
//
// Usage: npm run demo -- [--data MiB] [--pool MiB] [--page KiB] [--chunk MiB]
//                        [--mode declared|transaction] [--upload auto|writeBuffer|staging] [--trace FILE]

import { parseArgs } from 'node:util';
import { requestNodeDevice } from '../../src/node.ts';
import { fmtBytes, fmtMs } from '../lib/format.ts';
import { runStreamDemo, STREAM_MODES, type StreamMode } from '../lib/stream-demo.ts';
import { COMMON_USAGE, commonOptions, DemoCli, num, oneOf, parseDemoArgs, poolChoice, table, withoutDawnWarnings } from './cli.ts';

await withoutDawnWarnings();

const MiB = 1024 * 1024;
const USAGE = `Usage: npm run demo -- [flags]
  --data MiB          data set size (default 256)
  --chunk MiB         bytes per dispatch (default 8)
  --mode M            declared | transaction (default declared)${COMMON_USAGE}`;

const { values } = parseDemoArgs(USAGE, () => parseArgs({
  options: {
    ...commonOptions({ pool: '64', page: '64' }),
    data: { type: 'string', default: '256' },
    chunk: { type: 'string', default: '8' },
    mode: { type: 'string', default: 'declared' },
  },
}));
const mode = oneOf<StreamMode>('mode', values.mode, STREAM_MODES);

const cli = new DemoCli({ trace: values.trace });
const gpu = await requestNodeDevice();
try {
  console.log(`webgpu-hmm stream-reduce on ${gpu.adapterName}`);
  const out = await runStreamDemo(gpu.device, {
    ...poolChoice(values),
    dataBytes: Math.round((num('data', values.data) * MiB) / 4) * 4,
    chunkBytes: Math.round((num('chunk', values.chunk) * MiB) / 4) * 4,
    mode,
  }, cli.hooks);
  console.log('');
  console.log(table(
    ['phase', 'pages→dev', 'pages→host', 'bytes→dev', 'bytes→host', 'evictions (wb/drop)', 'time'],
    out.phases.map((p) => [
      p.name, String(p.pagesToDevice), String(p.pagesToHost), fmtBytes(p.bytesToDevice), fmtBytes(p.bytesToHost),
      `${p.evictions} (${p.writebacks}/${p.drops})`, fmtMs(p.ms),
    ]),
  ));
  cli.summary(out, [
    ['sum (GPU / CPU)', `${out.sum.gpu} / ${out.sum.cpu}`],
    ['xor (GPU / CPU)', `${out.xor.gpu} / ${out.xor.cpu}`],
    ['spot-check', `${out.samples - out.badSamples}/${out.samples} samples exact`],
  ]);
  console.log(out.ok ? 'RESULT: verified against the CPU' : `RESULT: MISMATCH (${out.summary})`);
  process.exitCode = out.ok ? 0 : 1;
} finally {
  cli.close();
  gpu.destroy();
}
