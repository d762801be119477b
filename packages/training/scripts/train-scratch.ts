// The seed's run, end to end: a scratch cell on the first 10,000 characters of The Time Machine,
// batch 32, 35 steps, lr 1, clipping at 1 (d2l 8.5 / 9.1). Prints perplexity per epoch, tokens/s
// and the greedy continuations of "time traveller" and "traveller".
//
//   pnpm --filter @rnnkit/training run train-scratch [--cell gru|rnn|lstm] [--hidden 512]
//     [--epochs 500] [--lr 1] [--sequential] [--backend wasm|cpu] [--seed 0] [--max-tokens 10000]
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { loadDataTimeMachine } from '@rnnkit/data';
import { RNNModelScratch, gruCell, installWasmKernels, lstmCell, rnnCell } from '@rnnkit/cells';
import { predict, trainLanguageModel } from '@rnnkit/training';

const { values: args } = parseArgs({
  options: {
    cell: { type: 'string', default: 'gru' },
    hidden: { type: 'string', default: '512' },
    epochs: { type: 'string', default: '500' },
    lr: { type: 'string', default: '1' },
    sequential: { type: 'boolean', default: false },
    backend: { type: 'string', default: 'wasm' },
    seed: { type: 'string', default: '0' },
    'max-tokens': { type: 'string', default: '10000' },
  },
});

const cells = { gru: gruCell, rnn: rnnCell, lstm: lstmCell } as const;
const cell = cells[args.cell as keyof typeof cells];
if (!cell) throw new Error(`--cell must be gru, rnn or lstm, got ${args.cell}`);

tf.env().set('PROD', true);
if (!(await tf.setBackend(args.backend))) throw new Error(`backend ${args.backend} is not available: use wasm or cpu`);
await tf.ready();
installWasmKernels();

const useRandomIter = !args.sequential;
const { loader, vocab } = await loadDataTimeMachine({
  batchSize: 32,
  numSteps: 35,
  useRandomIter,
  maxTokens: Number(args['max-tokens']),
  seed: Number(args.seed),
});
const model = new RNNModelScratch({ vocabSize: vocab.size, numHiddens: Number(args.hidden), ...cell, seed: Number(args.seed) });
console.log(
  `scratch ${cell.name}, hidden ${args.hidden}, ${useRandomIter ? 'random' : 'sequential'} iteration, backend ${tf.getBackend()}, ${args.epochs} epochs`,
);
const continuation = (prefix: string) => predict(model, vocab, prefix, 50).text;
const started = performance.now();
const result = await trainLanguageModel(model, loader, {
  epochs: Number(args.epochs),
  lr: Number(args.lr),
  theta: 1,
  useRandomIter,
  onEpochEnd: ({ epoch, perplexity, tokensPerSecond }) => {
    console.log(`epoch ${String(epoch).padStart(3)}  perplexity ${perplexity.toFixed(2).padStart(6)}  ${Math.round(tokensPerSecond)} tokens/s`);
    if (epoch % 10 === 0) console.log(`  ${continuation('time traveller')}`);
  },
});
console.log(
  `perplexity ${result.perplexity.toFixed(2)}, ${Math.round(result.tokensPerSecond)} tokens/s on ${tf.getBackend()}, ${((performance.now() - started) / 1000).toFixed(1)} s`,
);
console.log(continuation('time traveller'));
console.log(continuation('traveller'));
model.dispose();
