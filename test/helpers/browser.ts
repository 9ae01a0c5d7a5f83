// Browser tests' device: from navigator.gpu (the library never touches it),
// with the adapter's storage limits, destroyed afterwards, and no uncaptured
// WebGPU error allowed.

import { expect } from 'vitest';

// tsconfig has no DOM lib (the library must not touch navigator), so a local cast.
function gpu(): GPU {
  const nav = (globalThis as unknown as { navigator?: { gpu?: GPU } }).navigator;
  if (!nav?.gpu) throw new Error('navigator.gpu is missing: is Chromium started with --enable-unsafe-webgpu?');
  return nav.gpu;
}

export interface BrowserDevice {
  readonly adapter: GPUAdapter;
  readonly device: GPUDevice;
  readonly uncaptured: string[];
}

export async function withBrowserDevice(label: string, fn: (t: BrowserDevice) => Promise<void>): Promise<void> {
  const adapter = await gpu().requestAdapter();
  expect(adapter, 'requestAdapter() gave no adapter').not.toBeNull();
  const a = adapter!;
  const device = await a.requestDevice({
    label,
    requiredLimits: {
      maxStorageBufferBindingSize: a.limits.maxStorageBufferBindingSize,
      maxBufferSize: a.limits.maxBufferSize,
      maxStorageBuffersPerShaderStage: a.limits.maxStorageBuffersPerShaderStage,
    },
  });
  const uncaptured: string[] = [];
  device.addEventListener('uncapturederror', (ev) => uncaptured.push((ev as GPUUncapturedErrorEvent).error.message));
  try {
    await fn({ adapter: a, device, uncaptured });
    expect(uncaptured, 'uncaptured WebGPU errors').toEqual([]);
  } finally {
    device.destroy();
  }
}
