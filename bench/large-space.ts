// `npm run bench:large -- [--space-gib 64] [--data-mib 1024] [--pool-mib 256] [--at-gib 40]`:
// issue 16's measured target. A 64 GiB space; 1 GiB of it, placed above 32 GiB,
// written from the host in 64 MiB pieces, then streamed through a 256 MiB pool by
// declared dispatches of a 64-bit kernel (VmPtr: a[i] = a[i]·3 + 1) in chunks of a
// quarter pool, then read back and checked piece by piece. Prints the process's
// peak RSS (target ≤ 1.6 GiB: host memory is committed only where written) and
// whether every word was exact. On lavapipe the pool's buffers are process memory too
// (the "device" is the CPU), so its 256 MiB count in the RSS; on a GPU they do not.

import { parseArgs } from 'node:util';
import { createKernel, createPool, createSpace, ptrWords } from '../src/index.ts';
import { requestNodeDevice } from '../src/node.ts';

const { values } = parseArgs({
  options: {
    'space-gib': { type: 'string', default: '64' },
    'data-mib': { type: 'string', default: '1024' },
    'pool-mib': { type: 'string', default: '256' },
    'at-gib': { type: 'string', default: '40' },
  },
});
const GiB = 2 ** 30;
const MiB = 2 ** 20;
const spaceBytes = Number(values['space-gib']) * GiB;
const dataBytes = Number(values['data-mib']) * MiB;
const poolBytes = Number(values['pool-mib']) * MiB;
const at = Number(values['at-gib']) * GiB;

const node = await requestNodeDevice();
const baseline = process.memoryUsage().rss;
let peak = baseline;
const sample = () => { peak = Math.max(peak, process.memoryUsage().rss); };
// Sampled every millisecond the event loop is free (during every await), besides after each step:
// a peak inside a step (an eviction's write-back buffers, the reads home) shows.
const sampler = setInterval(sample, 1);
const pool = await createPool(node.device, { capacity: poolBytes, pageSize: 64 * 1024 });
const space = createSpace(pool, { size: spaceBytes, label: 'large' });
const below = space.alloc(at, { label: 'below' }); // the space up to `at`, never touched
// Aligned to the host memory's segments (64 MiB, HOST_SEGMENT_SIZE): the check's withView of a 64 MiB piece is
// then one segment, viewed in place; unaligned, each piece spans two segments, which withView joins into one
// buffer (a copy of both, and memory held in runs of two).
const data = space.alloc(dataBytes, { align: 64 * MiB, label: 'data' });
console.log(`space ${values['space-gib']} GiB, data ${values['data-mib']} MiB at ${(data / GiB).toFixed(1)} GiB (below it: ${(below / GiB).toFixed(0)}…), pool ${values['pool-mib']} MiB`);

const PIECE = 64 * MiB;
const word = (i: number) => (Math.imul(i, 2654435761) ^ 0x5bd1e995) >>> 0;
const t0 = performance.now();
// One piece buffer, reused (a memory-conscious writer's loop; a piece is copied into the space).
const piece = new Uint32Array(PIECE / 4);
for (let off = 0; off < dataBytes; off += PIECE) {
  const n = Math.min(PIECE, dataBytes - off) / 4;
  const first = off / 4;
  for (let k = 0; k < n; k++) piece[k] = word(first + k);
  await space.write(data + off, piece.subarray(0, n));
  sample();
}
const tWrite = performance.now() - t0;
const peakWrite = peak;

const affine = createKernel({
  label: 'affine64', workgroupSize: 64,
  code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x + inv.global_id.y * inv.num_workgroups.x * 64u;
  if (i >= vm_arg_u32(2u)) { return; }
  let a = vm_ptr_add(vm_arg_ptr(0u), i * 4u);
  vm_ptr_store_u32(a, vm_ptr_load_u32(a) * 3u + 1u);
}`,
});
const CHUNK = poolBytes / 4;
const t1 = performance.now();
for (let off = 0; off < dataBytes; off += CHUNK) {
  const bytes = Math.min(CHUNK, dataBytes - off);
  const n = bytes / 4;
  const wg = Math.ceil(n / 64);
  const x = Math.min(wg, 65535);
  await space.dispatch(affine, { workgroups: [x, Math.ceil(wg / x)], args: [...ptrWords(data + off), n], write: [{ addr: data + off, byteLength: bytes }] });
  sample();
}
const tStream = performance.now() - t1;
const peakStream = peak;

let bad = 0;
for (let off = 0; off < dataBytes; off += PIECE) {
  // Checked in place (withView: the host segment itself, no copy), after the device-dirty pages come home.
  const first = off / 4;
  bad += await space.withView(data + off, Math.min(PIECE, dataBytes - off), 'read', (v) => {
    const got = new Uint32Array(v.buffer, v.byteOffset, v.byteLength / 4);
    let wrong = 0;
    for (let k = 0; k < got.length; k++) if (got[k] !== ((Math.imul(word(first + k), 3) + 1) >>> 0)) wrong++;
    return wrong;
  });
  sample();
}
clearInterval(sampler);
const st = pool.stats();
space.destroy();
pool.destroy();
node.destroy();
console.log(`write ${(tWrite / 1000).toFixed(1)} s, stream ${(tStream / 1000).toFixed(1)} s; moved ${(st.bytesToDevice / MiB).toFixed(0)} MiB to the device, ${(st.bytesToHost / MiB).toFixed(0)} MiB home`);
console.log(`peak RSS ${(peak / GiB).toFixed(3)} GiB (target ≤ 1.6; the process with a device and nothing else ${(baseline / GiB).toFixed(2)}; after the writes ${(peakWrite / GiB).toFixed(2)}, after the stream ${(peakStream / GiB).toFixed(2)}); ${bad === 0 ? 'every word exact' : `${bad} words WRONG`}`);
if (bad !== 0) process.exitCode = 1;
