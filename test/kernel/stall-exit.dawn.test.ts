// A stalled invocation leaves its loops (src/kernel/stall-exit.ts): a loop that waits on a word of a
// page without a frame reads 0 for ever in a stalled pass; before the loop exits, such a dispatch
// never came back.
import { expect } from 'vitest';
import { testWithDevice, KiB } from '../helpers/gpu.ts';
import { makeSpace, u32 } from '../helpers/space.ts';
import { createKernel } from '../../src/index.ts';

for (const idempotent of [false, true]) {
  testWithDevice(`a ${idempotent ? 'replay' : 'transaction'} kernel that waits in a loop on a page it missed ends, exact`, async (ctx) => {
    const { space } = await makeSpace(ctx, { capacity: 64 * KiB, pageSize: 4 * KiB }, 256 * KiB);
    const flag = space.alloc(4, { align: 4 * KiB });
    const out = space.alloc(64 * 4, { align: 4 * KiB });
    await space.write(flag, new Uint32Array([5])); // on the host: the first pass misses it
    const k = createKernel({
      label: 'wait-for-flag',
      idempotent,
      workgroupSize: 64,
      code: /* wgsl */ `
fn kernel(inv: VmInvocation) {
  var f = 0u;
  loop {
    f = vm_load_u32(vm_arg_u32(0u));
    if (f != 0u) { break; }
  }
  var s = 0u;
  for (var i = 0u; i < f; i++) { s += i; }
  while (s > 1000u) { s -= 1000u; }
  vm_store_u32(vm_arg_u32(1u) + inv.global_id.x * 4u, s + inv.global_id.x);
}`,
    });
    const r = await space.dispatch(k, { workgroups: 1, demand: true, args: [flag, out] });
    expect(r.demand!.passes).toBeGreaterThanOrEqual(2); // it stalled, then ran with the page
    expect([...u32(await space.read(out, 64 * 4))]).toEqual(Array.from({ length: 64 }, (_, i) => 10 + i));
    space.checkInvariants();
  });
}
