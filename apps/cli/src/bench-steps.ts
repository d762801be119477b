// `rnnkit bench`'s cases and its timed steps, kept free of Node built-ins so that
// `pnpm bench:browser` bundles the very same code into a page's Web Worker.
import * as tf from '@tensorflow/tfjs-core';
import { loadDataTimeMachine, type SeqBatch, type Vocab } from '@rnnkit/data';
import type { RecurrentLanguageModel } from '@rnnkit/cells';
import type { CellKind, LanguageModelConfig } from '@rnnkit/models';
import { makeOptimizer, trainEpoch, trainEpochAsync, type EpochOptions, type MinibatchStepper } from '@rnnkit/training';

export interface BenchCase {
  id: string;
  impl: 'fused' | 'layers' | 'scratch';
  cell: CellKind;
  hidden: number;
  /** Stacked layers (1 unless the id says x2). */
  layers: number;
  randomIter: boolean;
}

export const BENCH_CASES: readonly BenchCase[] = [
  ...(['fused', 'layers'] as const).flatMap((impl) =>
    (['gru', 'rnn', 'lstm'] as const).map((cell) => ({ id: `${impl}-${cell}-256`, impl, cell, hidden: 256, layers: 1, randomIter: false })),
  ),
  // d2l's other concise configurations: a wider GRU and two stacked layers (PyTorch's step_bench has both).
  { id: 'fused-gru-512', impl: 'fused', cell: 'gru', hidden: 512, layers: 1, randomIter: false },
  { id: 'fused-gru-256x2', impl: 'fused', cell: 'gru', hidden: 256, layers: 2, randomIter: false },
  { id: 'scratch-gru-512', impl: 'scratch', cell: 'gru', hidden: 512, layers: 1, randomIter: true },
];

/** The minibatch shape of every case: d2l's 32 sequences of 35 one-hot steps over The Time Machine. */
export const BENCH_BATCH_SIZE = 32;
export const BENCH_NUM_STEPS = 35;

/** The batches a case trains on: The Time Machine's first minibatches, repeated to `count`. */
export async function benchBatches(count: number, localCopyHint = 'for rnnkit bench'): Promise<{ batches: SeqBatch[]; vocab: Vocab }> {
  const { loader, vocab } = await loadDataTimeMachine({
    batchSize: BENCH_BATCH_SIZE,
    numSteps: BENCH_NUM_STEPS,
    maxTokens: 10000,
    seed: 0,
    source: { localCopyHint },
  });
  const corpus: SeqBatch[] = [...loader];
  return { batches: Array.from({ length: count }, (_, i) => corpus[i % corpus.length] as SeqBatch), vocab };
}

/** The model a case trains: `c.layers` unidirectional layers, seed 0. */
export function benchModelConfig(c: BenchCase, vocabSize: number): LanguageModelConfig {
  return { cell: c.cell, implementation: c.impl, numHiddens: c.hidden, numLayers: c.layers, bidirectional: false, vocabSize, seed: 0 };
}

/** Tokens per second of one minibatch step taking `msPerStep`. */
export function benchTokensPerSecond(msPerStep: number): number {
  return Math.round((BENCH_BATCH_SIZE * BENCH_NUM_STEPS * 1000) / msPerStep);
}

/**
 * Times one case through the library's epoch loop (`trainEpoch`, or `trainEpochAsync` with a
 * data-parallel stepper): each step's time is the time between two `onStep` calls, so it is a
 * whole minibatch of training as `rnnkit train` runs it. Returns the times after warm-up and the
 * peak tensor memory above `bytesBefore`.
 */
export async function timeSteps(
  model: RecurrentLanguageModel,
  batches: SeqBatch[],
  stepper: MinibatchStepper | undefined,
  c: BenchCase,
  warmup: number,
  bytesBefore: number,
): Promise<{ times: number[]; peakBytes: number }> {
  const times: number[] = [];
  let peakBytes = 0;
  let last = performance.now();
  const onStep = ({ step }: { step: number }): void => {
    const now = performance.now();
    if (step > warmup) times.push(now - last);
    last = now;
    peakBytes = Math.max(peakBytes, tf.memory().numBytes - bytesBefore);
  };
  const optimizer = makeOptimizer('sgd', 1);
  try {
    const options: EpochOptions = { theta: 1, useRandomIter: c.randomIter, onStep };
    if (stepper) await trainEpochAsync(model, batches, optimizer, { ...options, stepper });
    else trainEpoch(model, batches, optimizer, options);
  } finally {
    optimizer.dispose();
  }
  return { times, peakBytes };
}
