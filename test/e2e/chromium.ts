// Debian's Chromium and the flags every test that drives it uses (the vitest
// browser project and the e2e tests). Never `npx playwright install`:
// scripts/setup.sh installs /usr/bin/chromium, and Playwright drives it.

export const CHROMIUM_PATH = '/usr/bin/chromium';

export const CHROMIUM_ARGS: readonly string[] = [
  '--enable-unsafe-webgpu',
  '--enable-webgpu-developer-features',
  '--no-sandbox',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-quic',
];
