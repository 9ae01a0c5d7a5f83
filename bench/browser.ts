// `npm run bench -- --browser`: serve bench/web with Vite, open it in
// Debian's Chromium through Playwright (SwiftShader's WebGPU on these
// machines; a real GPU where Chrome has one), and return what the page's
// suite measured.

import { fileURLToPath } from 'node:url';
import { createServer } from 'vite';
import { chromium } from 'playwright';
import type { CaseResult } from './lib.ts';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from '../test/e2e/chromium.ts';

export interface BrowserRun {
  readonly results: Record<string, CaseResult>;
  readonly adapter: string;
  readonly userAgent: string;
}

export async function runInChromium(opts: { quick: boolean; reps: number; only?: readonly string[] | undefined }): Promise<BrowserRun> {
  const root = fileURLToPath(new URL('./web/', import.meta.url));
  const server = await createServer({
    configFile: `${root}vite.config.ts`, logLevel: 'warn', clearScreen: false,
    server: { host: '127.0.0.1', port: 0, strictPort: false, hmr: false },
  });
  await server.listen();
  const browser = await chromium.launch({ executablePath: CHROMIUM_PATH, args: [...CHROMIUM_ARGS], headless: true });
  try {
    const page = await browser.newPage();
    page.on('console', (m) => console.log(`[chromium] ${m.text()}`));
    const q = new URLSearchParams();
    if (opts.quick) q.set('quick', '');
    q.set('reps', String(opts.reps));
    if (opts.only?.length) q.set('only', opts.only.join(','));
    await page.goto(`${server.resolvedUrls!.local[0]}index.html?${q}`);
    await page.waitForFunction("['ok', 'fail'].includes(document.getElementById('status')?.dataset.status)", undefined, { timeout: 30 * 60_000, polling: 500 });
    const err = (await page.evaluate('window.__benchError')) as string | undefined;
    if (err) throw new Error(`benchmark page failed: ${err}`);
    return (await page.evaluate('window.__benchResults')) as BrowserRun;
  } finally {
    await browser.close();
    await server.close();
  }
}
