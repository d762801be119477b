import { fileURLToPath } from 'node:url';
import type { UserWorkspaceConfig } from 'vitest/config';

const root = fileURLToPath(new URL('.', import.meta.url));

/** Tests import sibling packages from source, so they run without a build. */
export function sharedTestConfig(name: string): UserWorkspaceConfig {
  return {
    resolve: {
      alias: [
        { find: /^@rnnkit\/(data|cells|models|training)$/, replacement: `${root}packages/$1/src/index.ts` },
        { find: /^@rnnkit\/training\/parallel$/, replacement: `${root}packages/training/src/parallel.ts` },
        { find: /^@rnnkit\/training\/node$/, replacement: `${root}packages/training/src/node.ts` },
      ],
    },
    test: {
      name,
      include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
      testTimeout: 60_000,
      hookTimeout: 60_000,
      env: {
        RNNKIT_TIMEMACHINE: process.env.RNNKIT_TIMEMACHINE ?? `${root}../shared/data/timemachine.txt`,
      },
    },
  };
}
