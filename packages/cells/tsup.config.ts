import { defineConfig } from 'tsup';
import { libraryConfig } from '../../tsup.base.ts';

// The main entry, and `@rnnkit/cells/relaxed-simd`, which turns relaxed SIMD on when imported.
export default defineConfig({
  ...(libraryConfig as object),
  entry: ['src/index.ts', 'src/relaxed-simd.ts'],
});
