// The char-level language-model demo (the README's main job): `rnnkit train` with d2l's GRU
// settings (hidden 256, batch 32, 35 steps, lr 1, clipping 1, first 10,000 characters, 500 epochs,
// sequential minibatches) on the fused implementation. Any `rnnkit train` option overrides them,
// e.g. `--epochs 50` or `--backend cpu`. Writes metrics.json, perplexity.svg and a checkpoint to
// runs/char-lm.
// Relaxed SIMD first, then the CLI (imported after, so no WebAssembly compiles before the flag).
import '@rnnkit/cells/relaxed-simd';

const { argumentPath, packageScriptCommand, run } = await import('@rnnkit/cli');
// Hints (the command that continues a stopped run) name this demo as the user started it.
const programCommand = packageScriptCommand() ?? `node ${argumentPath(process.argv[1] ?? 'dist/main.js')}`;

const userArgs = process.argv.slice(2);
// A resumed run keeps its checkpoint's settings and folder: the demo's own settings would conflict.
const resuming = userArgs.some((a) => a === '--resume' || a.startsWith('--resume='));
const demoSettings = ['--model', 'gru', '--impl', 'fused', '--hidden', '256', '--epochs', '500', '--lr', '1', '--out', 'runs/char-lm'];
process.exitCode = await run(['train', ...(resuming ? [] : demoSettings), ...userArgs], { programCommand });
