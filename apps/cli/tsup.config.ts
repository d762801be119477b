import { defineConfig } from 'tsup';

// The library entry (what apps import) with types, and the `rnnkit` bin (a shebang is in its source).
export default defineConfig({
  entry: ['src/index.ts', 'src/bin.ts'],
  format: ['esm'],
  dts: { entry: 'src/index.ts' },
  clean: true,
  sourcemap: true,
  target: 'es2022',
});
