import { defineConfig } from 'tsup';
import { libraryConfig } from '../../tsup.base.ts';

// The main entry, the Node entry (worker_threads for the kernels' threads), and `@rnnkit/cells/relaxed-simd`, which turns relaxed SIMD on when imported.
export default defineConfig({
  ...(libraryConfig as object),
  entry: ['src/index.ts', 'src/index.node.ts', 'src/relaxed-simd.ts'],
});
