import { fileURLToPath } from 'node:url';
import { playwright } from '@vitest/browser-playwright';
import { configDefaults, defineProject } from 'vitest/config';

const root = fileURLToPath(new URL('.', import.meta.url));

/** Debian's Chromium (Playwright's own download cannot work here), headless, no background traffic. */
export const CHROMIUM_LAUNCH = {
  executablePath: '/usr/bin/chromium',
  args: ['--no-sandbox', '--headless', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
};

/**
 * The packages' own tests in real Chromium (vitest browser mode): the browser entries of the
 * packages (no Node built-ins), The Time Machine shipped with @rnnkit/data, the parity fixtures
 * bundled by Vite, and the wasm backend's binaries served as assets (test/browser-setup.ts).
 * Node-only tests (files, servers, child processes, worker threads) stay in the Node projects.
 */
export default defineProject({
  root,
  resolve: {
    alias: [
      { find: /^@rnnkit\/data$/, replacement: `${root}packages/data/src/index.ts` },
      { find: /^@rnnkit\/data\/timemachine$/, replacement: `${root}packages/data/src/shipped/timemachine.generated.ts` },
      { find: /^@rnnkit\/(cells|models|training|interop)$/, replacement: `${root}packages/$1/src/index.ts` },
      { find: /^@rnnkit\/interop\/onnx$/, replacement: `${root}packages/interop/src/onnx.ts` },
      { find: /^@rnnkit\/models\/cell-kinds$/, replacement: `${root}packages/models/src/cell-kinds.ts` },
    ],
  },
  // Cross-origin isolated, as apps/web's pages: shared memory, so rnnkit's kernels run their worker
  // threads (Web Workers) here too, and the thread tests run in the browser.
  server: { headers: { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' } },
  optimizeDeps: {
    include: ['@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-cpu', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-layers'],
  },
  test: {
    name: 'chromium',
    include: [
      'packages/data/src/*.test.ts',
      'packages/cells/src/**/*.test.ts',
      'packages/models/src/**/*.test.ts',
      // Parity with PyTorch through the training step, clipping and the loss; the training loops
      // (language models, the classifier, seq2seq, the forecast) with their tensor-leak checks;
      // the checkpoint rules on in-memory IO handlers.
      'packages/training/src/*.test.ts',
      // ONNX exports in onnxruntime-web (the interop package's other tests read fixture files in Node).
      'packages/interop/src/*.browser.test.ts',
    ],
    exclude: [
      ...configDefaults.exclude,
      // Node only: a local HTTP server and the file cache; child processes (Node's flags, the
      // AssemblyScript compiler); worker_threads; checkpoint folders; files read with node:fs.
      // A `*.node.test.ts` file is Node only by its name.
      '**/*.node.test.ts',
      'packages/data/src/timemachine.test.ts',
      'packages/data/src/nmt.test.ts',
      'packages/data/src/checks.test.ts',
      'packages/data/src/preprocess.test.ts',
      'packages/cells/src/relaxed-simd.test.ts',
      'packages/cells/src/kernels/simd.test.ts',
      'packages/cells/src/kernels/threads.test.ts',
      'packages/cells/src/kernels/mode.test.ts',
      'packages/training/src/parallel.test.ts',
      'packages/training/src/checkpoint.test.ts',
      'packages/training/src/checkpoint-fuzz.test.ts',
      'packages/training/src/checkpoint-unreadable.test.ts',
      'packages/training/src/translation.test.ts',
    ],
    setupFiles: ['test/browser-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    browser: {
      enabled: true,
      headless: true,
      provider: playwright({ launchOptions: CHROMIUM_LAUNCH }),
      instances: [{ browser: 'chromium' }],
      screenshotFailures: false,
      // Vite's first dependency scan and prebundle of tfjs can take minutes on a loaded machine.
      connectTimeout: 600_000,
    },
  },
});
