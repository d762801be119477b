import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { SeqDataLoader } from '@rnnkit/data';
import { RNNModel, type RNNModelImplementation, type CellKind } from '@rnnkit/models';
import { useBackend } from '../../../test/backends.js';
import { makeOptimizer, trainEpoch } from './index.js';

describe('RNNModel', () => {
  beforeAll(() => useBackend('wasm'));

  it.each([
    ['fused', 'gru', 2, true],
    ['fused', 'lstm', 1, true],
    ['fused', 'rnn', 1, false],
    ['layers', 'gru', 1, false],
    ['layers', 'lstm', 2, false],
  ] as [RNNModelImplementation, CellKind, number, boolean][])(
    '%s %s (%d layers, bidirectional %s): no tensor leaks over training',
    (implementation, cell, numLayers, bidirectional) => {
      const corpus = Int32Array.from({ length: 500 }, (_, i) => (i * 5) % 9);
      const loader = new SeqDataLoader(corpus, { batchSize: 3, numSteps: 6, seed: 1 });
      const start = tf.memory().numTensors;
      const model = new RNNModel({ vocabSize: 9, numHiddens: 5, cell, numLayers, bidirectional, implementation, resetAfter: implementation === 'fused' });
      const opt = makeOptimizer('sgd', 0.5);
      const first = trainEpoch(model, loader, opt);
      const before = tf.memory().numTensors;
      let last = first;
      for (let i = 0; i < 6; i++) last = trainEpoch(model, loader, opt);
      expect(tf.memory().numTensors).toBe(before);
      expect(last.perplexity).toBeLessThan(first.perplexity);
      opt.dispose();
      model.dispose();
      // Nothing outlives the model: no stray initial values behind the variables.
      expect(tf.memory().numTensors).toBe(start);
    },
  );

  it('has the right state shapes for each kind', () => {
    const lstm = new RNNModel({ vocabSize: 7, numHiddens: 4, cell: 'lstm', numLayers: 2, bidirectional: true });
    expect(lstm.beginState(3).map((s) => s.shape)).toEqual(Array(8).fill([3, 4]));
    const gru = new RNNModel({ vocabSize: 7, numHiddens: 4, cell: 'gru' });
    expect(gru.beginState(3).map((s) => s.shape)).toEqual([[3, 4]]);
    expect(() => gru.call(tf.zeros([3, 2], 'int32') as tf.Tensor2D, lstm.beginState(3))).toThrow(/needs a state of 1 tensors/);
    lstm.dispose();
    gru.dispose();
  });

  it('rejects what it cannot build, with the fix', () => {
    expect(() => new RNNModel({ vocabSize: 7, numHiddens: 4, cell: 'gru', implementation: 'layers', resetAfter: true })).toThrow(/use implementation 'fused'/);
    expect(() => new RNNModel({ vocabSize: 7, numHiddens: 4, cell: 'lstm', implementation: 'layers', bidirectional: true })).toThrow(/fused/);
    expect(() => new RNNModel({ vocabSize: 7, numHiddens: 0, cell: 'rnn' })).toThrow(/numHiddens must be/);
    expect(() => new RNNModel({ vocabSize: 7, numHiddens: 4, cell: 'elman' as never })).toThrow(/Unknown cell "elman"/);
  });
});
