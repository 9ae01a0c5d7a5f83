// The child process of the file-space kill test: runs the seeded operations
// (kill-ops.ts) on a file-backed space until it is killed, printing
// `F <operations done>` after each flush() resolves.

import { createKernel, createPool } from '../../src/index.ts';
import { createFileSpace, requestNodeDevice } from '../../src/node.ts';
import { FLUSH_EVERY, HOST_BUDGET, opStream, PS, SIZE } from './kill-ops.ts';

const [path, seedArg] = process.argv.slice(2);
const affine = createKernel({
  label: 'affine',
  workgroupSize: 64,
  code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  let i = inv.global_id.x;
  if (i >= vm_arg_u32(1u)) { return; }
  let a = vm_arg_u32(0u) + i * 4u;
  vm_store_u32(a, vm_load_u32(a) * 3u + vm_arg_u32(2u));
}`,
});

const node = await requestNodeDevice();
const pool = await createPool(node.device, { pageSize: PS, capacity: 256 * 1024 });
const space = createFileSpace(pool, path!, { size: SIZE, hostBudget: HOST_BUDGET });
const next = opStream(Number(seedArg));
process.stdout.write('READY\n');
for (let done = 0; ; ) {
  const op = next();
  if (op.kind === 'write') await space.write(op.addr, op.bytes);
  else {
    const r = { addr: op.addr, byteLength: op.count * 4 };
    await space.dispatch(affine, { workgroups: [op.count / 64, 1, 1], args: [op.addr, op.count, op.add], read: [r], write: [r] });
  }
  done++;
  if (done % FLUSH_EVERY === 0) {
    await space.flush();
    process.stdout.write(`F ${done}\n`);
  }
}
