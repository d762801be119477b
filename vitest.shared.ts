import { fileURLToPath } from 'node:url';
import { configDefaults, type UserWorkspaceConfig } from 'vitest/config';

const root = fileURLToPath(new URL('.', import.meta.url));

/**
 * Tests import sibling packages from source, so most run without a build. Two kinds need `pnpm build`
 * first: the data-parallel tests (their worker threads import the built packages) and the CLI's
 * tests (they run the built `rnnkit` bin). `pnpm test` does not build; `.ci/run` builds first.
 */
export function sharedTestConfig(name: string): UserWorkspaceConfig {
  return {
    resolve: {
      alias: [
        // Node gets @rnnkit/data's `node` entry, as the package's export conditions do.
        { find: /^@rnnkit\/data$/, replacement: `${root}packages/data/src/index.node.ts` },
        { find: /^@rnnkit\/data\/timemachine$/, replacement: `${root}packages/data/src/shipped/timemachine.generated.ts` },
        { find: /^@rnnkit\/cells$/, replacement: `${root}packages/cells/src/index.node.ts` },
        { find: /^@rnnkit\/models\/cell-kinds$/, replacement: `${root}packages/models/src/cell-kinds.ts` },
        { find: /^@rnnkit\/(models|training)$/, replacement: `${root}packages/$1/src/index.ts` },
        { find: /^@rnnkit\/training\/parallel$/, replacement: `${root}packages/training/src/parallel.ts` },
        { find: /^@rnnkit\/training\/node$/, replacement: `${root}packages/training/src/node.ts` },
        { find: /^@rnnkit\/interop$/, replacement: `${root}packages/interop/src/index.ts` },
        { find: /^@rnnkit\/interop\/onnx$/, replacement: `${root}packages/interop/src/onnx.ts` },
      ],
    },
    test: {
      name,
      // RNNKIT_TEST_RELAXED_SIMD=1 runs the tests with V8's relaxed SIMD on (Node 20 has it behind a
      // flag), so that the kernels' relaxed build is tested too (scripts/test-modes.sh).
      ...(process.env.RNNKIT_TEST_RELAXED_SIMD === '1' ? { execArgv: ['--experimental-wasm-relaxed-simd'] } : {}),
      include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
      // *.browser.test.ts run in Chromium only (vitest.browser.config.ts).
      exclude: [...configDefaults.exclude, '**/*.browser.test.ts'],
      testTimeout: 60_000,
      hookTimeout: 60_000,
    },
  };
}
