// What both demo pages share: number inputs (preset from the query string),
// the log, the status element, and the Run button's life cycle.

import { requestWebDevice } from './device.ts';

function el<T extends HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (!e) throw new Error(`page has no #${id}`);
  return e as T;
}

const params = new URLSearchParams(location.search);

/** A numeric control (value ≥ min, or > 0 without one); `?id=value` in the URL overrides its default. */
export function numberInput(id: string, min?: number): () => number {
  const input = el<HTMLInputElement>(id);
  const preset = params.get(id);
  if (preset !== null) input.value = preset;
  return () => {
    const v = Number(input.value);
    if (!Number.isFinite(v) || (min === undefined ? v <= 0 : v < min)) {
      throw new Error(`${id}: "${input.value}" is not ${min === undefined ? 'a positive number' : `a number ≥ ${min}`}`);
    }
    return v;
  };
}

export function checkboxInput(id: string): () => boolean {
  const input = el<HTMLInputElement>(id);
  const preset = params.get(id);
  if (preset !== null) input.checked = preset !== '0' && preset !== 'false';
  return () => input.checked;
}

export interface Outcome {
  readonly ok: boolean;
  readonly summary: string;
}

/**
 * Wire the Run button: request a device, run, and leave `#status` with
 * data-status="ok" or "fail" (what e2e tests wait for). `?autorun` runs on load.
 */
export function setupPage(label: string, run: (device: GPUDevice, log: (line: string) => void) => Promise<Outcome>): void {
  const button = el<HTMLButtonElement>('run');
  const logEl = el<HTMLPreElement>('log');
  const status = el<HTMLElement>('status');
  const log = (line: string) => {
    logEl.textContent += line + '\n';
    console.log(line);
  };
  const setStatus = (state: string, text: string) => {
    status.dataset.status = state;
    status.textContent = text;
  };

  const go = async () => {
    button.disabled = true;
    logEl.textContent = '';
    setStatus('running', 'running…');
    let wd: Awaited<ReturnType<typeof requestWebDevice>> | undefined;
    try {
      wd = await requestWebDevice(label);
      log(`adapter: ${wd.adapterName}`);
      const outcome = await run(wd.device, log);
      const gpuErrors = wd.uncaptured.length > 0 ? `; uncaptured WebGPU errors: ${wd.uncaptured.join(' | ')}` : '';
      if (gpuErrors) log(gpuErrors.slice(2));
      setStatus(outcome.ok && !gpuErrors ? 'ok' : 'fail', outcome.summary + gpuErrors);
    } catch (e) {
      const msg = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
      log(`error: ${msg}${wd?.lost ? ` (device lost: ${wd.lost})` : ''}`);
      setStatus('fail', `FAILED: ${msg}`);
    } finally {
      wd?.device.destroy();
      button.disabled = false;
    }
  };
  button.addEventListener('click', () => void go());
  if (params.has('autorun')) void go();
}
