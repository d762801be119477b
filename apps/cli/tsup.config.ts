import { defineConfig } from 'tsup';

// The library entry (what apps import) and the charts' specs (`@rnnkit/cli/plot`, for browsers) with types, and the `rnnkit` bin (a shebang is in its source).
export default defineConfig({
  entry: ['src/index.ts', 'src/bin.ts', 'src/plot-spec.ts'],
  format: ['esm'],
  dts: { entry: ['src/index.ts', 'src/plot-spec.ts'] },
  clean: true,
  sourcemap: true,
  target: 'es2022',
});
