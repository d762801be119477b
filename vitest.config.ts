import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Node projects per package and app, and the packages' tests in Chromium.
    projects: ['packages/*', 'apps/*', './vitest.browser.config.ts'],
  },
});
