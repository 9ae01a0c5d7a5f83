import { defineConfig } from 'vitest/config';
import { playwright } from '@vitest/browser-playwright';
import { CHROMIUM_ARGS, CHROMIUM_PATH } from './test/e2e/chromium.ts';

// Projects:
//  unit    — pure modules, no GPU (page table, allocator, eviction choice, notifier, coalescing, options).
//  dawn    — real WebGPU in Node through Dawn on Mesa lavapipe (scripts/setup.sh installs it).
//            Run one file at a time: lavapipe already uses every core for one device.
//  browser — real Chromium (SwiftShader WebGPU), added by the browser test setup below.
//  e2e     — the demo pages (demos/web) served by Vite and driven by Playwright in real Chromium;
//            screenshots in test-results/e2e/. Runs after the others (groupOrder), one file at a time.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.dawn.test.ts', 'test/**/*.browser.test.ts', 'test/**/*.e2e.test.ts', 'node_modules/**'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'dawn',
          include: ['test/**/*.dawn.test.ts'],
          environment: 'node',
          pool: 'forks',
          fileParallelism: false,
          testTimeout: 120_000,
          hookTimeout: 60_000,
          env: { XDG_RUNTIME_DIR: '/tmp' },
        },
      },
      {
        test: {
          name: 'browser',
          include: ['test/**/*.browser.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 60_000,
          fileParallelism: false,
          browser: {
            enabled: true,
            headless: true,
            // The page has no UI to look at; failure screenshots would only litter test/.
            screenshotFailures: false,
            // Debian's chromium (never `npx playwright install`). Playwright's launch() gives
            // every run a fresh temporary user-data dir, so no persistentContext here.
            instances: [{ browser: 'chromium' }],
            provider: playwright({
              launchOptions: {
                executablePath: CHROMIUM_PATH,
                args: [...CHROMIUM_ARGS],
              },
            }),
          },
        },
      },
      {
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.e2e.test.ts'],
          environment: 'node',
          pool: 'forks',
          fileParallelism: false,
          // After unit, dawn and browser: Chromium's SwiftShader wants the cores to itself.
          sequence: { groupOrder: 1 },
          testTimeout: 180_000,
          hookTimeout: 60_000,
        },
      },
    ],
  },
});
