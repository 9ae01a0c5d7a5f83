import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const here = fileURLToPath(new URL('.', import.meta.url));
const repo = fileURLToPath(new URL('../..', import.meta.url));

export default defineConfig({
  root: here,
  // Relative asset URLs: the built pages work from any path (or file server).
  base: './',
  // The pages import ../../src and ../lib, outside the root.
  server: { fs: { allow: [repo] } },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    rolldownOptions: {
      input: {
        index: `${here}index.html`,
        stream: `${here}stream.html`,
        tree: `${here}tree.html`,
        bfs: `${here}bfs.html`,
        thrash: `${here}thrash.html`,
      },
    },
  },
});
