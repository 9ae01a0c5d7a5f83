import { runStreamDemo, STREAM_DEFAULTS, STREAM_MODES } from '../../lib/stream-demo.ts';
import { numberInput, poolControls, setupPage } from './page.ts';

const MiB = 1024 * 1024;
const data = numberInput('data', undefined, STREAM_DEFAULTS.dataBytes / MiB);
const chunk = numberInput('chunk', undefined, STREAM_DEFAULTS.chunkBytes / MiB);
const controls = poolControls(
  {
    poolMiB: STREAM_DEFAULTS.poolBytes / MiB, pageKiB: STREAM_DEFAULTS.pageSize / 1024, mode: STREAM_DEFAULTS.mode,
    modeNote: 'Replay does not apply: the transform updates in place and the reduction uses atomics.',
  },
  STREAM_MODES,
);

setupPage('stream-demo-device', (device, hooks) =>
  runStreamDemo(device, { ...controls(), dataBytes: Math.round(data() * MiB / 4) * 4, chunkBytes: Math.round(chunk() * MiB / 4) * 4 }, hooks));
