import { defineConfig } from 'tsup';
import { libraryConfig } from '../../tsup.base.ts';

// The browser-safe entry, the Node entry (files, environment, cache), and the shipped book on
// its own (`@rnnkit/data/timemachine`, loaded on first use, so bundles that never need it do not carry it).
export default defineConfig({
  ...(libraryConfig as object),
  entry: { index: 'src/index.ts', 'index.node': 'src/index.node.ts', timemachine: 'src/shipped/timemachine.generated.ts' },
});
