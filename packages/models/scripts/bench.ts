// pnpm bench: training throughput (tokens/s, median of steps after warm-up) and peak memory for
// the fused, layers and scratch implementations on wasm and cpu. Batch 32, 35 steps, one-hot
// inputs over The Time Machine's 28 tokens, SGD with clipping at 1. Prints a table and JSON.
//
//   pnpm bench [--steps 30] [--warmup 3] [--backends wasm-stock,wasm,cpu] [--only fused-gru-256,...] [--json out.json]
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-wasm';
import { loadDataTimeMachine, type SeqBatch } from '@rnnkit/data';
import { RNNModelScratch, gruCell, installWasmKernels, type RecurrentLanguageModel } from '@rnnkit/cells';
import { RNNModel, type CellKind } from '@rnnkit/models';
import { makeOptimizer, trainStep } from '@rnnkit/training';

const { values: args } = parseArgs({
  options: {
    steps: { type: 'string', default: '30' },
    warmup: { type: 'string', default: '3' },
    backends: { type: 'string', default: 'wasm,cpu' },
    only: { type: 'string' },
    json: { type: 'string' },
  },
});

interface Case {
  id: string;
  impl: 'fused' | 'layers' | 'scratch';
  cell: CellKind;
  hidden: number;
  randomIter: boolean;
}
const cases: Case[] = [];
for (const impl of ['fused', 'layers'] as const) {
  for (const cell of ['gru', 'rnn', 'lstm'] as const) cases.push({ id: `${impl}-${cell}-256`, impl, cell, hidden: 256, randomIter: false });
}
cases.push({ id: 'scratch-gru-512', impl: 'scratch', cell: 'gru', hidden: 512, randomIter: true });
const only = args.only?.split(',');
const selected = only ? cases.filter((c) => only.includes(c.id)) : cases;

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

tf.env().set('PROD', true);
const { loader, vocab } = await loadDataTimeMachine({ batchSize: 32, numSteps: 35, maxTokens: 10000, seed: 0 });
const batches: SeqBatch[] = [...loader];
const rows: Record<string, unknown>[] = [];
const steps = Number(args.steps);
const warmup = Number(args.warmup);

// 'wasm-stock' is wasm without rnnkit's replacement kernels; it must come before 'wasm'.
for (const backend of args.backends.split(',')) {
  await tf.setBackend(backend === 'wasm-stock' ? 'wasm' : backend);
  await tf.ready();
  if (backend === 'wasm') installWasmKernels();
  for (const c of selected) {
    const model: RecurrentLanguageModel =
      c.impl === 'scratch'
        ? new RNNModelScratch({ vocabSize: vocab.size, numHiddens: c.hidden, ...gruCell })
        : new RNNModel({ vocabSize: vocab.size, numHiddens: c.hidden, cell: c.cell, implementation: c.impl, resetAfter: c.impl === 'fused' });
    const opt = makeOptimizer('sgd', 1);
    let state = model.beginState(32);
    const times: number[] = [];
    let peakBytes = 0;
    for (let i = 0; i < warmup + steps; i++) {
      const batch = batches[i % batches.length] as SeqBatch;
      const X = tf.tensor2d(batch.X, [32, 35], 'int32');
      const Y = tf.tensor2d(batch.Y, [32, 35], 'int32');
      if (c.randomIter) {
        tf.dispose(state);
        state = model.beginState(32);
      }
      const t0 = performance.now();
      const r = trainStep(model, X, Y, state, opt, 1);
      const dt = performance.now() - t0;
      tf.dispose([X, Y, ...state]);
      state = r.state;
      if (i >= warmup) times.push(dt);
      peakBytes = Math.max(peakBytes, tf.memory().numBytes);
    }
    tf.dispose(state);
    opt.dispose();
    model.dispose();
    const ms = median(times);
    const row = {
      backend,
      case: c.id,
      iteration: c.randomIter ? 'random' : 'sequential',
      msPerStep: +ms.toFixed(1),
      tokensPerSecond: Math.round((32 * 35 * 1000) / ms),
      peakTensorMB: +(peakBytes / 2 ** 20).toFixed(1),
      rssMB: Math.round(process.memoryUsage().rss / 2 ** 20),
      steps,
    };
    rows.push(row);
    console.log(
      `${backend.padEnd(5)} ${c.id.padEnd(16)} ${row.iteration.padEnd(10)} ${String(row.msPerStep).padStart(8)} ms/step ${String(row.tokensPerSecond).padStart(8)} tokens/s  tensors ${row.peakTensorMB} MB  rss ${row.rssMB} MB`,
    );
  }
}
console.log(JSON.stringify(rows));
if (args.json) writeFileSync(args.json, JSON.stringify(rows, null, 2));
