import { defineConfig } from 'vitest/config';
import { playwright } from '@vitest/browser-playwright';

// Projects:
//  unit    — pure modules, no GPU (page table, allocator, eviction choice, notifier, coalescing, options).
//  dawn    — real WebGPU in Node through Dawn on Mesa lavapipe (scripts/setup.sh installs it).
//            Run one file at a time: lavapipe already uses every core for one device.
//  browser — real Chromium (SwiftShader WebGPU), added by the browser test setup below.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/**/*.test.ts'],
          exclude: ['test/**/*.dawn.test.ts', 'test/**/*.browser.test.ts', 'node_modules/**'],
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
                executablePath: '/usr/bin/chromium',
                args: [
                  '--enable-unsafe-webgpu',
                  '--enable-webgpu-developer-features',
                  '--no-sandbox',
                  '--no-first-run',
                  '--disable-background-networking',
                  '--disable-component-update',
                  '--disable-sync',
                  '--disable-quic',
                ],
              },
            }),
          },
        },
      },
    ],
  },
});
