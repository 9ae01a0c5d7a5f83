// End to end: each demo page of demos/web, served by Vite, loaded in real
// Chromium (SwiftShader's WebGPU here, a real GPU elsewhere) with ?autorun and
// small presets. The test waits for #status[data-status], fails with the
// page's log if it says "fail", checks the verified-result line, the policy
// controls, the live counters and the ledger (and that it stays inside its
// box), and saves a full-page screenshot to test-results/e2e/<demo>.png (CI
// keeps test-results/ as an artifact). The thrashing page runs its workload
// with and without the mitigation side by side: the test checks both columns
// and that the mitigated run moved fewer bytes to the GPU.

import { mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { createServer, type ViteDevServer } from 'vite';
import { chromium, type Browser } from 'playwright';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './chromium.ts';

const repo = fileURLToPath(new URL('../..', import.meta.url));
const shots = `${repo}test-results/e2e`;

interface Demo {
  readonly name: string;
  /** The page's controls, preset small enough for SwiftShader on two cores. */
  readonly query: string;
  /** What #status must say once the run is verified. */
  readonly result: RegExp;
  /** Allocation labels the ledger must list. */
  readonly allocations: readonly string[];
  /** The pool must have evicted (the data is larger than the pool). */
  readonly evicts: boolean;
  /** Element-id prefixes of the page's runs ('' for a page with one). */
  readonly runs: readonly string[];
}

const DEMOS: readonly Demo[] = [
  {
    name: 'stream', query: 'data=4&chunk=0.5&pool=1&page=16',
    result: /^ok: sum and xor of 4 MiB verified against the CPU, \d+ samples exact; data 4\.0× the pool$/,
    allocations: ['data', 'sum+xor'], evicts: true, runs: [''],
  },
  {
    name: 'tree', query: 'nodes=16384&queries=2048&pool=0.25&page=4&mode=replay&prefetch=off&thrashing=report',
    result: /^ok: 2048 lookups, \d+ found, 0 mismatches against the host Map$/,
    allocations: ['tree nodes', 'queries', 'results'], evicts: true, runs: [''],
  },
  {
    name: 'bfs', query: 'scale=12&pool=0.25&page=4&seed=1',
    result: /^ok: BFS from \d+ reached (\d+) vertices \(host \1\), depth \d+, validation OK; graph \d+\.\d+× the pool$/,
    allocations: ['offsets', 'adjacency', 'parent', 'frontier A', 'frontier B'], evicts: true, runs: [''],
  },
  {
    // The arrays fit the pool: what moves is the host↔GPU ping-pong. A lapse of
    // 10 s: SwiftShader on two busy cores must still see 3 hand-overs in it.
    name: 'thrash', query: 'working=1&pool=2&page=4&rounds=6&hostEvery=1&chunk=64&mode=declared&lapse=10000&hold=10000',
    result: /^ok: both runs verified \(262144 words each\); to the GPU [\d.]+ [KM]iB with mitigation, [\d.]+ [KM]iB without \(\d+ % less\)$/,
    allocations: ['ping', 'pong'], evicts: false, runs: ['pin-', 'report-'],
  },
];

let server: ViteDevServer;
let browser: Browser;
let base: string;

beforeAll(async () => {
  mkdirSync(shots, { recursive: true });
  server = await createServer({
    configFile: `${repo}demos/web/vite.config.ts`,
    logLevel: 'warn',
    clearScreen: false,
    server: { host: '127.0.0.1', port: 0, strictPort: false, hmr: false },
  });
  await server.listen();
  const url = server.resolvedUrls?.local[0];
  if (!url) throw new Error('the Vite server gave no local URL');
  base = url;
  browser = await chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: [...CHROMIUM_ARGS] });
});

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

for (const demo of DEMOS) {
  test(`${demo.name}.html runs, verifies its result and shows the heatmap, counters and ledger`, async () => {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const console_: string[] = [];
    page.on('console', (m) => console_.push(`[${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => console_.push(`[pageerror] ${e.message}`));
    try {
      const t0 = performance.now();
      await page.goto(`${base}${demo.name}.html?autorun&${demo.query}`);
      // A string: this file is type-checked without the DOM library.
      await page.waitForFunction("['ok', 'fail'].includes(document.getElementById('status')?.dataset.status)", undefined, {
        timeout: 150_000, polling: 250,
      });
      const ms = performance.now() - t0;
      // Let the last flashes fade so the screenshot shows where pages ended up.
      await page.waitForTimeout(600);
      await page.screenshot({ path: `${shots}/${demo.name}.png`, fullPage: true });

      const status = await page.locator('#status').getAttribute('data-status');
      const text = (await page.locator('#status').textContent()) ?? '';
      const log = (await page.locator('#log').textContent()) ?? '';
      if (status !== 'ok') {
        throw new Error(`${demo.name}: ${text}\n--- page log ---\n${log}\n--- console ---\n${console_.join('\n')}`);
      }
      console.log(`${demo.name}: ${(ms / 1000).toFixed(1)} s to verified — ${text}`);
      expect(text).toMatch(demo.result);

      // The policy controls are real: enabled, and preset from the URL.
      expect(await page.locator('#prefetch').isEnabled()).toBe(true);
      expect(await page.locator('#lapse').isEnabled()).toBe(true);
      const params = new URLSearchParams(demo.query);
      if (params.has('prefetch')) expect(await page.locator('#prefetch').inputValue()).toBe(params.get('prefetch'));
      if (demo.runs.length === 1) {
        expect(await page.locator('#thrashing').isEnabled()).toBe(true);
        if (params.has('thrashing')) expect(await page.locator('#thrashing').inputValue()).toBe(params.get('thrashing'));
      } else {
        expect(await page.locator('#thrashing').count(), 'a comparison page runs both ways itself').toBe(0);
      }

      for (const run of demo.runs) {
        // Live counters (data-value is the raw number).
        const counter = async (key: string) => Number(await page.locator(`#${run}counters dd[data-counter="${key}"]`).getAttribute('data-value'));
        expect(await counter('bytesToDevice')).toBeGreaterThan(0);
        if (demo.evicts) expect(await counter('evictions')).toBeGreaterThan(0);
        // The heatmap drew the space, and the summary and the ledger are there.
        const column = run ? page.locator(`#${run}column`) : page.locator('#live');
        expect(await column.locator('.hm-caption').textContent()).toMatch(/^residency of space "\w+": \d+ pages/);
        expect(await page.locator(`#${run}summary tr`).count()).toBeGreaterThan(5);
        const ledger = (await page.locator(`#${run}ledger`).textContent()) ?? '';
        for (const label of demo.allocations) expect(ledger).toContain(`${label} @0x`);
        expect(ledger).toMatch(/\(total\)/);
        // The ledger scrolls inside its box: its right edge is inside its column's and the page's.
        const box = await page.locator(`#${run}ledger`).boundingBox();
        const outer = await column.boundingBox();
        expect(box && outer && box.x + box.width <= outer.x + outer.width + 1, `#${run}ledger inside its box`).toBe(true);
        expect(box && box.x + box.width <= 1280, `#${run}ledger inside the page`).toBe(true);
      }
      if (demo.runs.length > 1) {
        // Side by side: the mitigated run moved fewer bytes to the GPU, and the table says so.
        const up = async (run: string) => Number(await page.locator(`#${run}counters dd[data-counter="bytesToDevice"]`).getAttribute('data-value'));
        const [withMitigation, without] = [await up('pin-'), await up('report-')];
        console.log(`${demo.name}: to the GPU ${withMitigation} B with mitigation, ${without} B without`);
        expect(withMitigation).toBeLessThan(without);
        expect(await page.locator('#comparison tr').count()).toBeGreaterThan(5);
        const columns = await Promise.all(demo.runs.map((r) => page.locator(`#${r}column`).boundingBox()));
        expect(columns[0] && columns[1] && columns[0].x + columns[0].width <= columns[1].x, 'the runs are side by side').toBe(true);
      }
    } finally {
      await page.close();
    }
  });
}
