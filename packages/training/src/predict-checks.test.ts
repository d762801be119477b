// predict's bad arguments fail early, before any tensor work, with a message naming the argument.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { Vocab, createRng } from '@rnnkit/data';
import { RNNModelScratch, gruCell } from '@rnnkit/cells';
import { useBackend } from '../../../test/backends.js';
import { predict } from './index.js';

describe('predict argument checks', () => {
  beforeAll(() => useBackend('cpu'));
  const vocab = new Vocab([...'abcab']);

  it("mode 'beam' is an unknown mode, not a missing generator", () => {
    const model = new RNNModelScratch({ vocabSize: vocab.size, numHiddens: 4, ...gruCell, seed: 0 });
    const before = tf.memory().numTensors;
    // @ts-expect-error: not a mode
    expect(() => predict(model, vocab, 'ab', 3, { mode: 'beam', rng: createRng(0) })).toThrow(/predict: unknown mode "beam": use "greedy" or "sample"/);
    expect(tf.memory().numTensors).toBe(before);
    model.dispose();
  });

  it("a model whose vocabSize differs from the vocabulary's size is refused", () => {
    const model = new RNNModelScratch({ vocabSize: vocab.size + 2, numHiddens: 4, ...gruCell, seed: 0 });
    expect(() => predict(model, vocab, 'ab', 3)).toThrow(/predict: the model's vocabSize \(6\) differs from the vocabulary's size \(4\)/);
    model.dispose();
  });
});
