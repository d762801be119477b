#!/usr/bin/env node
// The `rnnkit` bin: relaxed SIMD on first (V8's flag must be set before any WebAssembly module
// compiles), then the command line itself, imported only now so that none of it runs before.
import '@rnnkit/cells/relaxed-simd';

await import('./main.js');
