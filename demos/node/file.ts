// Demo: a file larger than host memory's budget streamed disk → host → device
// and back through a file-backed space (demos/node/file-demo.ts).
//
// Usage: npm run demo:file -- [--data MiB] [--budget MiB] [--pool MiB] [--page KiB] [--chunk MiB]
//                             [--file PATH] [--keep] [--upload …] [--trace FILE]

import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { requestNodeDevice } from '../../src/node.ts';
import { fmtBytes, fmtMs } from '../lib/format.ts';
import { runFileDemo } from './file-demo.ts';
import { COMMON_USAGE, commonOptions, DemoCli, num, parseDemoArgs, poolChoice, table, withoutDawnWarnings } from './cli.ts';

await withoutDawnWarnings();

const MiB = 1024 * 1024;
const USAGE = `Usage: npm run demo:file -- [flags]
  --data MiB          data file size (default 1024)
  --budget MiB        host memory budget of the file-backed space (default 256)
  --chunk MiB         bytes per dispatch (default 16; at most a quarter of the pool)
  --file PATH         where the data file goes (default: a temporary file, deleted after)
  --keep              leave the data file on disk${COMMON_USAGE}`;

const { values } = parseDemoArgs(USAGE, () => parseArgs({
  options: {
    ...commonOptions({ pool: '64', page: '64' }),
    data: { type: 'string', default: '1024' },
    budget: { type: 'string', default: '256' },
    chunk: { type: 'string', default: '16' },
    file: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
}));

const cli = new DemoCli({ trace: values.trace });
const gpu = await requestNodeDevice();
try {
  console.log(`webgpu-hmm file-backed streaming on ${gpu.adapterName}`);
  const choice = poolChoice(values);
  const out = await runFileDemo(gpu.device, {
    ...choice,
    path: values.file ?? join(tmpdir(), `webgpu-hmm-demo-${process.pid}.bin`),
    dataBytes: Math.round((num('data', values.data) * MiB) / choice.pageSize) * choice.pageSize,
    hostBudget: Math.round(num('budget', values.budget) * MiB),
    chunkBytes: Math.round((num('chunk', values.chunk) * MiB) / 4) * 4,
    keep: values.keep === true || values.file !== undefined,
  }, cli.hooks);
  console.log('');
  console.log(table(
    ['phase', 'disk→host', 'host→device', 'device→host', 'host→disk', 'time'],
    out.phases.map((p) => [p.name, fmtBytes(p.diskToHost), fmtBytes(p.hostToDevice), fmtBytes(p.deviceToHost), fmtBytes(p.hostToDisk), fmtMs(p.ms)]),
  ));
  cli.summary(out, [
    ['sum (GPU / CPU)', `${out.sum.gpu} / ${out.sum.cpu}`],
    ['xor (GPU / CPU)', `${out.xor.gpu} / ${out.xor.cpu}`],
    ['file spot-check', `${out.samples - out.badSamples}/${out.samples} samples exact`],
    ['host memory', `peak ${fmtBytes(out.peakHostBytes)} of a ${fmtBytes(out.hostBudget)} budget, ${out.hostEvictions} segments dropped`],
  ]);
  console.log(out.ok ? 'RESULT: verified against the CPU and the file' : `RESULT: MISMATCH (${out.summary})`);
  process.exitCode = out.ok ? 0 : 1;
} finally {
  cli.close();
  gpu.destroy();
}
