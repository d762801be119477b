// The toys. With no arguments: "hello" -> "ohlol" (15 epochs of Adam, printing
// "0 loss: 1.38 guess: llllh" lines), then the encoder-decoder on the reverse task. With
// `toy ...` or `seq2seq ...` it runs just that `rnnkit` command with the given options,
// e.g. `toy --seeds 20` for the distribution over seeds.
// Relaxed SIMD first, then the CLI (imported after, so no WebAssembly compiles before the flag).
import '@rnnkit/cells/relaxed-simd';

const { run } = await import('@rnnkit/cli');

const args = process.argv.slice(2);
if (args[0] === 'toy' || args[0] === 'seq2seq') process.exitCode = await run(args);
else {
  const code = await run(['toy']);
  process.exitCode = code !== 0 ? code : await run(['seq2seq', ...args]);
}
