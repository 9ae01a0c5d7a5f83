// The page's WebGPU device: only the page touches navigator.gpu; the library
// is handed the GPUDevice.

export interface WebDevice {
  readonly device: GPUDevice;
  readonly adapterName: string;
  /** Uncaptured WebGPU errors seen so far (a run with any has failed). */
  readonly uncaptured: string[];
  /** Set when the device is lost. */
  lost: string | null;
}

export async function requestWebDevice(label: string): Promise<WebDevice> {
  if (!navigator.gpu) throw new Error('navigator.gpu is missing: this browser has no WebGPU (Chromium: --enable-unsafe-webgpu)');
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) throw new Error('requestAdapter() gave no adapter');
  // The pool sizes its windows from these; the defaults are far below what adapters offer.
  const device = await adapter.requestDevice({
    label,
    requiredLimits: {
      maxStorageBufferBindingSize: adapter.limits.maxStorageBufferBindingSize,
      maxBufferSize: adapter.limits.maxBufferSize,
      maxStorageBuffersPerShaderStage: adapter.limits.maxStorageBuffersPerShaderStage,
    },
  });
  const info = adapter.info;
  const w: WebDevice = {
    device,
    adapterName: [info.vendor, info.architecture, info.device, info.description].filter(Boolean).join(' ') || 'unknown adapter',
    uncaptured: [],
    lost: null,
  };
  device.addEventListener('uncapturederror', (ev) => w.uncaptured.push((ev as GPUUncapturedErrorEvent).error.message));
  void device.lost.then((l) => {
    w.lost = `${l.reason}: ${l.message}`;
  });
  return w;
}
