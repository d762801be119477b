import { defineConfig } from 'vite';

// Cross-origin isolation (SharedArrayBuffer) lets tfjs-wasm run its threaded build.
const isolation = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

export default defineConfig({
  // Relative asset paths: the built site works from any folder of a static host (/, /rnnkit/, ...).
  base: './',
  server: { headers: isolation, fs: { allow: ['../..'] } },
  preview: { headers: isolation },
  // Unminified: tfjs-wasm starts its threads from the source text of a function that reads a
  // variable of the enclosing scope, which a minifier renames ("e is not defined" in the threads).
  worker: { format: 'es', rolldownOptions: { output: { minify: false } } },
  build: { target: 'es2022', chunkSizeWarningLimit: 4096 },
});
