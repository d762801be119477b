import { defineProject } from 'vitest/config';
import { sharedTestConfig } from '../../vitest.shared.ts';

// The page's end-to-end tests: the built page in Debian's Chromium, driven by playwright-core.
const shared = sharedTestConfig('web');
export default defineProject({
  ...shared,
  test: { ...shared.test, include: ['test/**/*.test.ts'], testTimeout: 180_000, hookTimeout: 240_000 },
});
