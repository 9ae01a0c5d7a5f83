// The Node entry: a WebGPU device from Dawn (the `webgpu` package). Dawn's
// instance object must stay referenced for as long as any device from it
// lives — if it is garbage-collected, Dawn's event processing segfaults or
// hangs (ENVIRONMENT.md) — so this module holds it until the device is
// destroyed or lost. One adapter gives one device: every call asks anew.

/// <reference types="@webgpu/types" />
import { create } from 'webgpu';
import { NoAdapterError } from './errors.ts';

export interface NodeDeviceOptions {
  /** Dawn toggles / options passed to `create()`, e.g. ['backend=vulkan']. */
  dawnOptions?: string[];
  powerPreference?: GPUPowerPreference;
  /**
   * Limits to request: 'max' (default) asks for the adapter's maximum buffer
   * size, storage binding size, storage buffers per stage and workgroup limits,
   * which a large pool needs; 'default' asks for WebGPU's defaults.
   */
  limits?: 'max' | 'default';
  requiredFeatures?: GPUFeatureName[];
  label?: string;
}

export interface NodeDevice {
  readonly device: GPUDevice;
  readonly adapter: GPUAdapter;
  /** "vendor / architecture / description" as the adapter reports it. */
  readonly adapterName: string;
  readonly isFallbackAdapter: boolean;
  /** Destroy the device and release the Dawn instance. */
  destroy(): void;
}

const held = new Map<GPUDevice, GPU>();
/**
 * The instance also lives as long as the device object does: a lost device's
 * object is still used after the loss (its buffers destroyed, its error scopes
 * popped, by the pool moving to a new device), and Dawn crashes if the
 * instance has been collected by then ("std::system_error", measured).
 */
const owners = new WeakMap<GPUDevice, GPU>();

const MAX_LIMITS = [
  'maxBufferSize',
  'maxStorageBufferBindingSize',
  'maxStorageBuffersPerShaderStage',
  'maxComputeInvocationsPerWorkgroup',
  'maxComputeWorkgroupSizeX',
  'maxComputeWorkgroupSizeY',
  'maxComputeWorkgroupSizeZ',
  'maxComputeWorkgroupStorageSize',
] as const;

export async function requestNodeDevice(options: NodeDeviceOptions = {}): Promise<NodeDevice> {
  process.env['XDG_RUNTIME_DIR'] ??= '/tmp';
  const gpu = create(options.dawnOptions ?? []);
  const adapter = await gpu.requestAdapter(options.powerPreference ? { powerPreference: options.powerPreference } : {});
  if (!adapter) {
    throw new NoAdapterError(
      'Dawn found no adapter. On Debian without a GPU, run `bash scripts/setup.sh` (Vulkan loader and Mesa lavapipe from bookworm-backports)',
    );
  }
  const requiredLimits: Record<string, number> = {};
  if ((options.limits ?? 'max') === 'max') for (const k of MAX_LIMITS) requiredLimits[k] = adapter.limits[k];
  const device = await adapter.requestDevice({
    label: options.label ?? 'webgpu-hmm',
    requiredLimits,
    requiredFeatures: options.requiredFeatures ?? [],
  });
  held.set(device, gpu);
  owners.set(device, gpu);
  device.lost.then(() => held.delete(device), () => held.delete(device));
  const info = adapter.info;
  return {
    device,
    adapter,
    adapterName: [info?.vendor, info?.architecture, info?.description].filter(Boolean).join(' / ') || 'unknown adapter',
    isFallbackAdapter: (info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter ?? false,
    destroy() {
      device.destroy();
      // Keep the instance until Dawn has delivered the loss, then let it go.
      device.lost.finally(() => held.delete(device));
    },
  };
}
