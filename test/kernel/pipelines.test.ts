// kernel.ready()'s arguments and the variant configurations, without a GPU:
// bad options are refused before the pool is even looked at, and the three
// variants differ exactly where link.ts needs them to.

import { describe, expect, it } from 'vitest';
import { createKernel, InvalidArgumentError } from '../../src/index.ts';
import { recordStride, registerCompileTarget, replayUnit, variantConfig, type CompileTarget } from '../../src/kernel/pipelines.ts';
import { link, resumeApplies } from '../../src/kernel/link.ts';
import { RESUME_STRIDE } from '../../src/abi.ts';
import { MAX_REPLAY_INVOCATIONS } from '../../src/options.ts';

const code = 'fn kernel(inv: VmInvocation) { vm_store_u32(0u, 1u); }';

describe('kernel.ready() arguments', () => {
  /** A registered pool whose configuration must never be read: every refusal comes first. */
  const pool = { device: {} as GPUDevice, pageSize: 4096, windowCount: 1, windowSize: 1 << 20 };
  registerCompileTarget(pool, (): CompileTarget => { throw new Error('the pool was read'); });

  it('refuses what is not a pool from createPool', async () => {
    const k = createKernel({ code });
    for (const bad of [undefined, null, {}, { ...pool }]) {
      await expect(k.ready(bad as never)).rejects.toThrow(/pass a Pool from createPool/);
    }
  });

  it('refuses bad modes, workgroups and option names before reading the pool', async () => {
    const k = createKernel({ code });
    const ki = createKernel({ code, idempotent: true });
    const cases: [ReturnType<typeof createKernel>, unknown, RegExp][] = [
      [k, { modes: [] }, /non-empty array/],
      [k, { modes: 'declared' }, /non-empty array/],
      [k, { modes: ['declared', 'probe'] }, /unknown mode "probe"/],
      [k, { modes: ['replay'] }, /not idempotent.*ask for 'transaction'/],
      [ki, { modes: ['transaction'] }, /idempotent.*ask for 'replay'/],
      [k, { workgroups: 1.5 }, /workgroups/],
      [k, { workgroups: [1, -1] }, /workgroups/],
      [k, { workgroups: [1, 1, 1, 1] }, /workgroups/],
      [k, { demand: true }, /unknown option "demand"/],
      [k, 7, /options must be/],
    ];
    for (const [kernel, options, message] of cases) {
      const e = await kernel.ready(pool, options as never).catch((x: unknown) => x);
      expect(e, JSON.stringify(options)).toBeInstanceOf(InvalidArgumentError);
      expect((e as Error).message).toMatch(message);
    }
    // Valid options get as far as the pool (the stand-in refuses to be read).
    await expect(k.ready(pool, { modes: ['declared', 'transaction'], workgroups: [4, 4] })).rejects.toThrow('the pool was read');
    await expect(ki.ready(pool, { modes: ['replay'] })).rejects.toThrow('the pool was read');
  });
});

describe('variant configurations', () => {
  const shape = { pageShift: 16, windowCount: 3, windowSize: 1 << 26, accessCounters: true };

  it('declared, transaction and replay differ in the demand, replay and counter constants only', () => {
    const d = variantConfig(shape, 'declared', true);
    const t = variantConfig(shape, 'transaction', true);
    const r = variantConfig(shape, 'replay', true);
    expect(d).toMatchObject({ demand: false, replay: false, replayPerInvocation: false, accessCounters: true });
    expect(t).toMatchObject({ demand: true, replay: false, replayPerInvocation: false, accessCounters: false });
    expect(r).toMatchObject({ demand: true, replay: true, replayPerInvocation: true, accessCounters: false });
    expect(variantConfig(shape, 'replay', false).replayPerInvocation).toBe(false);
    expect(variantConfig({ ...shape, accessCounters: false }, 'declared', false).accessCounters).toBe(false);
    for (const c of [d, t, r]) expect(c).toMatchObject({ pageShift: 16, windowCount: 3, windowWordShift: 24 });
  });

  it('replay completion is per invocation up to MAX_REPLAY_INVOCATIONS, and for kernels without workgroup sync', () => {
    const k = createKernel({ code, idempotent: true, workgroupSize: 64 });
    expect(replayUnit(k, MAX_REPLAY_INVOCATIONS / 64)).toBe('invocation');
    expect(replayUnit(k, MAX_REPLAY_INVOCATIONS / 64 + 1)).toBe('workgroup');
    const sync = createKernel({ code: 'fn kernel(inv: VmInvocation) { workgroupBarrier(); }', idempotent: true });
    expect(replayUnit(sync, 1)).toBe('workgroup');
  });
});

describe('resumable kernels (vm_save_u32, vm_resume_u32)', () => {
  const shape = { pageShift: 12, windowCount: 1, windowSize: 1 << 20, accessCounters: true };
  const resumable = createKernel({
    code: 'fn kernel(inv: VmInvocation) { var p = vm_resume_u32(0u, 1u); vm_save_u32(0u, p + 1u); vm_store_u32(0u, p); }',
    idempotent: true,
  });

  it('only the completing replay variant of a kernel that calls them keeps state, in a record of RESUME_STRIDE words an invocation', () => {
    expect(resumable.resumes).toBe(true);
    expect(createKernel({ code, idempotent: true }).resumes).toBe(false);
    const on = (mode: 'declared' | 'transaction' | 'replay', perInvocation: boolean, form: 'first' | 'sample' | false = false) =>
      resumeApplies(resumable, variantConfig(shape, mode, perInvocation, form));
    expect(on('replay', true)).toBe(true);
    for (const off of [on('declared', true), on('transaction', true), on('replay', false), on('replay', true, 'first'), on('replay', true, 'sample')]) expect(off).toBe(false);
    const linked = link(resumable, variantConfig(shape, 'replay', true)).code;
    expect(linked).toContain('const VM_RESUME: bool = true;');
    expect(linked).toContain(`lidx) * ${RESUME_STRIDE}u;`);
    expect(link(resumable, variantConfig(shape, 'declared', true)).code).toContain('const VM_RESUME: bool = false;');
    expect(recordStride(resumable)).toBe(RESUME_STRIDE);
    // The words a dispatch may keep an invocation shrink the dispatches that keep a word each.
    const most = Math.floor(MAX_REPLAY_INVOCATIONS / RESUME_STRIDE / 64);
    expect(replayUnit(resumable, most)).toBe('invocation');
    expect(replayUnit(resumable, most + 1)).toBe('workgroup');
  });
});
