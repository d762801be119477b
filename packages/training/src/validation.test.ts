import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { SeqDataLoader, seqDataEvalBatches, splitCorpus } from '@rnnkit/data';
import { createLanguageModel, type LanguageModelConfig } from '@rnnkit/models';
import { useBackend } from '../../../test/backends.js';
import { evaluateLanguageModel, learningRateAt, makeOptimizer, trainLanguageModel, type LearningRateSchedule } from './index.js';

const config = (vocabSize: number, seed = 1): LanguageModelConfig => ({
  cell: 'gru',
  implementation: 'fused',
  numHiddens: 16,
  numLayers: 1,
  bidirectional: false,
  vocabSize,
  seed,
});
// A text the model learns (abcd... repeated) whose last part is a different pattern, so
// validation perplexity falls at first, then rises as the model fits the training part.
const corpus = Int32Array.from({ length: 3000 }, (_, i) => (i < 2400 ? i % 6 : (i * 5) % 6));
const weightsOf = (model: { trainableVariables: tf.Variable[] }) => model.trainableVariables.map((v) => Array.from(v.dataSync()));

describe('validation and early stopping', () => {
  beforeAll(() => useBackend('cpu'));

  it('measures validation perplexity after each epoch on the held-out batches only', async () => {
    const { train, validation } = splitCorpus(corpus, 0.2);
    const batches = seqDataEvalBatches(validation, 8, 10);
    const model = createLanguageModel(config(6));
    const seen: number[] = [];
    const result = await trainLanguageModel(model, new SeqDataLoader(train, { batchSize: 8, numSteps: 10 }), {
      epochs: 3,
      lr: 1,
      validation: batches,
      onEpochEnd: (info) => void seen.push(info.validationPerplexity as number),
    });
    expect(seen).toHaveLength(3);
    expect(evaluateLanguageModel(model, batches).perplexity).toBe(seen[2]);
    expect(result.best?.validationPerplexity).toBe(Math.min(...seen));
    const before = tf.memory().numTensors;
    evaluateLanguageModel(model, batches);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it('patience stops the run and puts the best epoch back', async () => {
    const { train, validation } = splitCorpus(corpus, 0.2);
    const batches = seqDataEvalBatches(validation, 8, 10);
    const model = createLanguageModel(config(6));
    const epochs: { epoch: number; validationPerplexity?: number; earlyStop?: boolean }[] = [];
    const result = await trainLanguageModel(model, new SeqDataLoader(train, { batchSize: 8, numSteps: 10 }), {
      epochs: 60,
      lr: 1,
      validation: batches,
      patience: 3,
      onEpochEnd: (info) => void epochs.push(info),
    });
    expect(result.earlyStopped).toBe(true);
    expect(result.epochsDone).toBeLessThan(60);
    const best = result.best!;
    expect(result.epochsDone).toBe(best.epoch + 3);
    expect(epochs.at(-1)?.earlyStop).toBe(true);
    expect(result.restoredBest).toBe(true);
    // The model holds the best epoch's weights again: its validation perplexity is the best one.
    expect(evaluateLanguageModel(model, batches).perplexity).toBe(best.validationPerplexity);
    expect(epochs.at(-1)?.validationPerplexity).toBeGreaterThan(best.validationPerplexity);
    model.dispose();
    await expect(trainLanguageModel(model, [], { epochs: 1, lr: 1, patience: 2 })).rejects.toThrow(/patience needs validation batches/);
  });
});

describe('learning-rate schedules', () => {
  beforeAll(() => useBackend('cpu'));

  it('give the rates of PyTorch StepLR and CosineAnnealingLR stepped once per epoch', () => {
    expect([0, 1, 2, 3, 4].map((e) => learningRateAt(1, { kind: 'step', stepSize: 2, gamma: 0.5 }, e))).toEqual([1, 1, 0.5, 0.5, 0.25]);
    const cosine = { kind: 'cosine', epochs: 4, minLr: 0.1 } as const;
    expect(learningRateAt(1, cosine, 0)).toBe(1);
    expect(learningRateAt(1, cosine, 2)).toBeCloseTo(0.55, 12);
    expect(learningRateAt(1, cosine, 4)).toBeCloseTo(0.1, 12);
    expect(learningRateAt(1, cosine, 9)).toBeCloseTo(0.1, 12);
  });

  it.each<[string, LearningRateSchedule, 'sgd' | 'adam']>([
    ['constant', { kind: 'constant' }, 'sgd'],
    ['step', { kind: 'step', stepSize: 2, gamma: 0.5 }, 'sgd'],
    ['cosine', { kind: 'cosine', epochs: 5, minLr: 0.01 }, 'adam'],
  ])('%s: 2 epochs then 3 more from the same state give bit for bit the weights of 5 in one run', async (_, lrSchedule, name) => {
    const lr = name === 'sgd' ? 1 : 0.01;
    const run = async (splits: number[]) => {
      const model = createLanguageModel(config(6, 4));
      const loader = new SeqDataLoader(corpus, { batchSize: 8, numSteps: 10, seed: 2 });
      const optimizer = makeOptimizer(name, lr);
      const rates: number[] = [];
      let startEpoch = 0;
      for (const epochs of splits) {
        // A resumed run starts from saved state: a fresh loader at the saved generator state.
        const state = loader.getState();
        const resumed = new SeqDataLoader(corpus, { batchSize: 8, numSteps: 10, seed: 2 });
        resumed.setState(state);
        await trainLanguageModel(model, resumed, { epochs, lr, optimizer, lrSchedule, startEpoch, onEpochEnd: (info) => void rates.push(info.lr) });
        loader.setState(resumed.getState());
        startEpoch = epochs;
      }
      const weights = weightsOf(model);
      model.dispose();
      optimizer.dispose();
      return { weights, rates };
    };
    const whole = await run([5]);
    const split = await run([2, 5]);
    expect(split.rates).toEqual(whole.rates);
    expect(whole.rates).toEqual([0, 1, 2, 3, 4].map((e) => learningRateAt(lr, lrSchedule, e)));
    expect(split.weights).toEqual(whole.weights);
  });
});
