import { defineConfig } from 'tsup';

/** Every package builds the same way: one ESM entry with .d.ts and source maps. */
export const libraryConfig = defineConfig({
  entry: ['src/index.ts'],
  format: ['esm'],
  dts: true,
  clean: true,
  sourcemap: true,
  target: 'es2022',
});
