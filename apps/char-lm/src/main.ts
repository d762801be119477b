// The char-level language-model demo (the README's main job): `rnnkit train` with d2l's GRU
// settings (hidden 256, batch 32, 35 steps, lr 1, clipping 1, first 10,000 characters, 500 epochs,
// sequential minibatches) on the fused implementation. Any `rnnkit train` option overrides them,
// e.g. `--epochs 50` or `--backend cpu`. Writes metrics.json, perplexity.svg and a checkpoint to
// runs/char-lm.
// Relaxed SIMD first, then the CLI (imported after, so no WebAssembly compiles before the flag).
import '@rnnkit/cells/relaxed-simd';

const { run } = await import('@rnnkit/cli');

process.exitCode = await run([
  'train',
  '--model',
  'gru',
  '--impl',
  'fused',
  '--hidden',
  '256',
  '--epochs',
  '500',
  '--lr',
  '1',
  '--out',
  'runs/char-lm',
  ...process.argv.slice(2),
]);
