// Compiled kernels, cached per device (WeakMap: a device's pipelines go with
// it) and per link configuration. Compile errors come back as
// KernelCompileError with line numbers in the user's own code.

import { BINDING } from '../abi.ts';
import { KernelCompileError } from '../errors.ts';
import type { Kernel } from './kernel.ts';
import { link, type LinkConfig, type LinkedSource } from './link.ts';
import { resourceLayout, type KernelResourceLayout } from './resources.ts';

interface DeviceCache {
  readonly layouts: Map<number, { bgl: GPUBindGroupLayout; pl: GPUPipelineLayout }>;
  readonly pipelines: Map<string, Promise<GPUComputePipeline>>;
}

const caches = new WeakMap<GPUDevice, DeviceCache>();

function cacheFor(device: GPUDevice): DeviceCache {
  let c = caches.get(device);
  if (!c) {
    c = { layouts: new Map(), pipelines: new Map() };
    caches.set(device, c);
  }
  return c;
}

/** Bind group layout shared by every kernel on pools with `windowCount` windows. */
export function layoutFor(device: GPUDevice, windowCount: number): { bgl: GPUBindGroupLayout; pl: GPUPipelineLayout } {
  const c = cacheFor(device);
  let l = c.layouts.get(windowCount);
  if (!l) {
    const COMPUTE = 0x4; // GPUShaderStage.COMPUTE
    const entries: GPUBindGroupLayoutEntry[] = [
      { binding: BINDING.uniforms, visibility: COMPUTE, buffer: { type: 'uniform' } },
      { binding: BINDING.pageTable, visibility: COMPUTE, buffer: { type: 'read-only-storage' } },
      { binding: BINDING.record, visibility: COMPUTE, buffer: { type: 'storage' } },
    ];
    for (let w = 0; w < windowCount; w++) entries.push({ binding: BINDING.firstWindow + w, visibility: COMPUTE, buffer: { type: 'storage' } });
    const bgl = device.createBindGroupLayout({ label: `hmm:bgl:${windowCount}w`, entries });
    const pl = device.createPipelineLayout({ label: `hmm:pl:${windowCount}w`, bindGroupLayouts: [bgl] });
    l = { bgl, pl };
    c.layouts.set(windowCount, l);
  }
  return l;
}

/** The pipeline layout of a kernel with resources of its own: the runtime's group 0, the kernel's group 1 (src/kernel/resources.ts). */
function resourcePipelineLayout(device: GPUDevice, windowCount: number, resources: readonly KernelResourceLayout[]): GPUPipelineLayout {
  return device.createPipelineLayout({ label: `hmm:pl:${windowCount}w+resources`, bindGroupLayouts: [layoutFor(device, windowCount).bgl, resourceLayout(device, resources)] });
}

function describe(msgs: readonly GPUCompilationMessage[], src: LinkedSource): string[] {
  return msgs
    .filter((m) => m.type === 'error')
    .map((m) => {
      const userLine = m.lineNum - src.userFirstLine + 1;
      const where = userLine >= 1 && userLine <= src.userLineCount ? `line ${userLine}:${m.linePos}` : `prelude line ${m.lineNum}`;
      return `${where}: ${m.message}`;
    });
}

async function compile(device: GPUDevice, kernel: Kernel, cfg: LinkConfig): Promise<GPUComputePipeline> {
  const src = link(kernel, cfg);
  device.pushErrorScope('validation');
  const module = device.createShaderModule({ label: `hmm:${kernel.label}`, code: src.code });
  const info = await module.getCompilationInfo();
  const scopeError = await device.popErrorScope();
  const errors = describe(info.messages, src);
  if (errors.length > 0 || scopeError) {
    throw new KernelCompileError(kernel.label, errors.length ? errors : [scopeError?.message ?? 'unknown error']);
  }
  try {
    return await device.createComputePipelineAsync({
      label: `hmm:${kernel.label}`,
      layout: kernel.resources ? resourcePipelineLayout(device, cfg.windowCount, kernel.resources) : layoutFor(device, cfg.windowCount).pl,
      compute: { module, entryPoint: 'vm_entry' },
    });
  } catch (e) {
    throw new KernelCompileError(kernel.label, [e instanceof Error ? e.message : String(e)]);
  }
}

export function pipelineFor(device: GPUDevice, kernel: Kernel, cfg: LinkConfig): Promise<GPUComputePipeline> {
  const c = cacheFor(device);
  const key = JSON.stringify([kernel.code, kernel.structWgsl, kernel.workgroupSize, kernel.label, cfg, kernel.resources ?? null]);
  let p = c.pipelines.get(key);
  if (!p) {
    p = compile(device, kernel, cfg);
    c.pipelines.set(key, p);
    // A failed compile is not cached: the error is re-raised fresh next time.
    p.catch(() => c.pipelines.delete(key));
  }
  return p;
}
