import { defineConfig } from 'tsup';
import { libraryConfig } from '../../tsup.base.ts';

// The main entry, the Node-only checkpoint file system, the Node-only data-parallel trainer, and the worker script it starts.
export default defineConfig({
  ...(libraryConfig as object),
  entry: ['src/index.ts', 'src/node.ts', 'src/parallel.ts', 'src/parallel-worker.ts'],
  dts: { entry: ['src/index.ts', 'src/node.ts', 'src/parallel.ts'] },
});
