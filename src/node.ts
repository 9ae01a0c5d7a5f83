// The Node entry: a WebGPU device from Dawn (the `webgpu` package). Dawn's
// instance object must stay referenced for as long as any device from it
// lives — if it is garbage-collected, Dawn's event processing segfaults or
// hangs (ENVIRONMENT.md) — so this module holds it until the device is
// destroyed or lost. One adapter gives one device: every call asks anew.
//
// `webgpu` is an optional peer dependency of this package: browser users never
// install Dawn's 20+ MiB native module. It is loaded here, on the first call,
// by a dynamic import, so that importing this module works without it and the
// call fails with a DawnUnavailableError that says how to install it.

/**
 * The Node entry: {@link requestNodeDevice} gives a WebGPU device from Dawn
 * (the `webgpu` package, an optional peer dependency: `npm i webgpu`) to pass
 * to `createPool` from `webgpu-hmm`.
 *
 * @module webgpu-hmm/node
 */

/// <reference types="@webgpu/types" />
/// <reference lib="esnext.disposable" preserve="true" />
import { NoAdapterError } from './errors.ts';
import { ASYNC_DISPOSE, DISPOSE } from './lifetime.ts';

type DawnModule = typeof import('webgpu');

/**
 * `webgpu` (Dawn for Node) could not be loaded: `reason` is `'not-installed'`
 * (the fix: `npm i webgpu`) or `'failed-to-load'` (it is installed but its
 * native module did not load on this platform; `cause` has the loader's error).
 * A {@link webgpu-hmm!NoAdapterError} (code `NO_ADAPTER`), so code that handles "no
 * adapter" handles this too.
 */
export class DawnUnavailableError extends NoAdapterError {
  /** `'not-installed'`: run `npm i webgpu`; `'failed-to-load'`: installed, but its native module did not load here. */
  readonly reason: 'not-installed' | 'failed-to-load';
  constructor(reason: 'not-installed' | 'failed-to-load', detail: string, cause?: unknown) {
    super(detail);
    this.reason = reason;
    if (cause !== undefined) Object.defineProperty(this, 'cause', { value: cause, enumerable: false, writable: true, configurable: true });
  }
}

let dawn: Promise<DawnModule> | null = null;

function loadDawn(): Promise<DawnModule> {
  dawn ??= import('webgpu').catch((e: unknown) => {
    dawn = null; // installing it later in a long-lived process works
    const err = e as { code?: unknown; message?: unknown };
    const message = typeof err.message === 'string' ? err.message : String(e);
    if (err.code === 'ERR_MODULE_NOT_FOUND' && /['"]webgpu['"]/.test(message)) {
      throw new DawnUnavailableError('not-installed',
        'webgpu-hmm/node needs the `webgpu` package (Dawn for Node), an optional peer dependency that is not installed. ' +
        'Install it next to webgpu-hmm: `npm i webgpu`. (In a browser, import `webgpu-hmm` and pass it a GPUDevice from navigator.gpu instead.)', e);
    }
    throw new DawnUnavailableError('failed-to-load',
      `the \`webgpu\` package is installed but Dawn's native module did not load on ${process.platform}-${process.arch}: ${message}. ` +
      'Reinstall it (`npm i webgpu`) on this platform; its prebuilt binaries cover linux/win32 x64 and arm64 and macOS', e);
  });
  return dawn;
}

/** Options of {@link requestNodeDevice}; all optional. */
export interface NodeDeviceOptions {
  /** Dawn toggles / options passed to `create()`, e.g. ['backend=vulkan']. */
  dawnOptions?: string[];
  /** Passed to `requestAdapter` (`'low-power'` or `'high-performance'`); default: none given. */
  powerPreference?: GPUPowerPreference;
  /**
   * Limits to request: 'max' (default) asks for the adapter's maximum buffer
   * size, storage binding size, storage buffers per stage and workgroup limits,
   * which a large pool needs; 'default' asks for WebGPU's defaults.
   */
  limits?: 'max' | 'default';
  /** Features to request from the adapter (e.g. `['shader-f16']`); default none. */
  requiredFeatures?: GPUFeatureName[];
  /** The device's label. Default `'webgpu-hmm'`. */
  label?: string;
}

/** What {@link requestNodeDevice} gives: the device, its adapter, and how to let them go. */
export interface NodeDevice {
  /** The WebGPU device: pass it to `createPool`. */
  readonly device: GPUDevice;
  /** The adapter the device came from. */
  readonly adapter: GPUAdapter;
  /** "vendor / architecture / description" as the adapter reports it. */
  readonly adapterName: string;
  /** True for a fallback (software) adapter, when the adapter says so; false when it does not report it. */
  readonly isFallbackAdapter: boolean;
  /** Destroy the device and release the Dawn instance. */
  destroy(): void;
  /** `using nd = await requestNodeDevice()`: destroy() when the scope ends. */
  [Symbol.dispose](): void;
  /**
   * `await using nd = await requestNodeDevice()`: destroy() when the scope
   * ends, and wait until Dawn has delivered the loss and let its instance go.
   */
  [Symbol.asyncDispose](): Promise<void>;
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

/**
 * A WebGPU device from Dawn, with the adapter's maximum buffer, binding and
 * workgroup limits (a large pool needs them). Dawn's instance is kept alive
 * until the device is destroyed and its loss delivered.
 *
 * Dawn prints two lines to stderr on every device creation,
 * "maxDynamicUniformBuffersPerPipelineLayout artificially reduced…" and the
 * same for storage buffers: Dawn caps a limit the driver reports as 1 000 000
 * to 16. They are harmless here (the runtime binds no buffer with a dynamic
 * offset) and come from native code, so this function cannot hide them.
 *
 * @example
 * ```ts
 * import { createPool, createSpace } from 'webgpu-hmm';
 * import { requestNodeDevice } from 'webgpu-hmm/node';
 *
 * await using nd = await requestNodeDevice();
 * await using pool = await createPool(nd.device, { capacity: 64 << 20 });
 * const space = createSpace(pool, { size: 256 << 20 });
 * ```
 *
 * @throws {@link DawnUnavailableError} when the `webgpu` package is not installed (`npm i webgpu`) or does not load.
 * @throws {@link webgpu-hmm!NoAdapterError} when Dawn finds no adapter (no Vulkan / Metal / D3D12 driver).
 */
export async function requestNodeDevice(options: NodeDeviceOptions = {}): Promise<NodeDevice> {
  process.env['XDG_RUNTIME_DIR'] ??= '/tmp';
  const { create } = await loadDawn();
  const gpu = create(options.dawnOptions ?? []);
  const adapter = await gpu.requestAdapter(options.powerPreference ? { powerPreference: options.powerPreference } : {});
  if (!adapter) {
    throw new NoAdapterError(
      'Dawn found no adapter. Without a GPU driver, install a Vulkan loader and Mesa\'s software Vulkan (lavapipe, Mesa 23 or later): ' +
        'on Debian `apt-get install libvulkan1 mesa-vulkan-drivers` (bookworm: from bookworm-backports); in this repository `bash scripts/setup.sh` does it',
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
  const destroy = (): void => {
    device.destroy();
    // Keep the instance until Dawn has delivered the loss, then let it go.
    device.lost.finally(() => held.delete(device));
  };
  return {
    device,
    adapter,
    adapterName: [info?.vendor, info?.architecture, info?.description].filter(Boolean).join(' / ') || 'unknown adapter',
    isFallbackAdapter: (info as { isFallbackAdapter?: boolean } | undefined)?.isFallbackAdapter ?? false,
    destroy,
    [DISPOSE]: destroy,
    async [ASYNC_DISPOSE]() {
      destroy();
      await device.lost.then(() => undefined, () => undefined);
    },
  };
}

export {
  createFileSpace, type FileSpace, type FileSpaceOptions, type FileSpaceStats,
} from './node/file-space.ts';
export { FileOpenError, FileTooShortError, DiskFullError, ReadOnlySpaceError } from './errors.ts';
