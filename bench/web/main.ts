// The benchmark suite in the browser: the same bench/suite.ts, on the
// browser's WebGPU. Results land in window.__benchResults and #status
// (data-status="ok" | "fail"), which bench/browser.ts waits for.

import { runSuite } from '../suite.ts';

declare global {
  interface Window {
    __benchResults?: unknown;
    __benchError?: string;
  }
}

const status = document.getElementById('status')!;
const logEl = document.getElementById('log')!;
const log = (line: string) => {
  logEl.textContent += line + '\n';
  console.log(line);
};

async function main(): Promise<void> {
  const params = new URLSearchParams(location.search);
  const quick = params.has('quick');
  const reps = Number(params.get('reps') ?? (quick ? 3 : 7));
  const only = params.get('only')?.split(',').filter(Boolean);
  if (!navigator.gpu) throw new Error('this browser has no WebGPU (Chromium: --enable-unsafe-webgpu)');
  const adapter = await navigator.gpu.requestAdapter();
  if (!adapter) throw new Error('no WebGPU adapter');
  // The largest buffers and bindings the adapter allows, as webgpu-hmm/node asks of Dawn.
  const L = adapter.limits;
  const device = await adapter.requestDevice({
    requiredLimits: {
      maxBufferSize: L.maxBufferSize,
      maxStorageBufferBindingSize: L.maxStorageBufferBindingSize,
      maxStorageBuffersPerShaderStage: L.maxStorageBuffersPerShaderStage,
    },
  });
  const info = adapter.info;
  log(`adapter: ${info.vendor} ${info.architecture} ${info.device} ${info.description}`.trim());
  status.textContent = 'running…';
  status.dataset.status = 'running';
  const results = await runSuite({ device, quick, reps, log }, only);
  window.__benchResults = { results, adapter: `${info.vendor} ${info.architecture} ${info.description}`.trim(), userAgent: navigator.userAgent };
  device.destroy();
  status.textContent = 'done';
  status.dataset.status = 'ok';
}

main().catch((e: unknown) => {
  const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  window.__benchError = msg;
  log(msg);
  status.textContent = msg;
  status.dataset.status = 'fail';
});
