import { defineConfig } from 'tsup';
import { libraryConfig } from '../../tsup.base.ts';

// The main entry, and the list of cell kinds on its own (it imports nothing, so a page's main
// thread can build its cell menu without loading TensorFlow.js).
export default defineConfig({
  ...(libraryConfig as object),
  entry: ['src/index.ts', 'src/cell-kinds.ts'],
});
