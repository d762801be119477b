import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assignVariables } from '@rnnkit/cells';
import { helloToy } from '@rnnkit/data';
import { SeqClassifier, fromTorchNames } from '@rnnkit/models';
import { TEST_BACKENDS, expectClose, loadFixture, tensorsOf, useBackend, type Nested } from '../../../test/backends.js';
import { crossEntropyLoss, makeOptimizer, optimizeStep, trainSeqClassifier } from './index.js';

const fx = loadFixture('toy_embedding_rnn_classifier');
const torchTensors = (entries: Record<string, Nested>) => fromTorchNames(tensorsOf(entries));
const sizes = fx.sizes as Record<string, number>;
const newModel = () => new SeqClassifier({ vocabSize: sizes.vocab!, embeddingSize: sizes.embedding!, numHiddens: sizes.hidden!, numClasses: sizes.vocab! });

// PyTorch Embedding -> RNN(batch_first) -> Linear (float64) against SeqClassifier (float32).
for (const backend of TEST_BACKENDS) {
  describe(`SeqClassifier parity on ${backend}`, () => {
    beforeAll(() => useBackend(backend));
    let model: SeqClassifier;
    beforeAll(() => {
      model = newModel();
      assignVariables(model.namedVariables(), torchTensors(fx.params));
    });
    afterAll(() => model.dispose());

    it('matches logits, every gradient, one Adam step and the first three losses', () => {
      const X = tf.tensor2d(fx.X, undefined, 'int32');
      const labels = tf.tensor1d(fx.Y as number[], 'int32');
      expectClose(model.call(X), fx.logits_step0 as Nested, 'logits');
      const { value, grads } = tf.variableGrads(() => crossEntropyLoss(model.call(X), labels), model.trainableVariables);
      expectClose(value, (fx.losses_first_3_steps as number[])[0]!, 'loss 0');
      const expected = torchTensors(fx.grads_step0 as Record<string, Nested>);
      for (const [name, v] of Object.entries(model.namedVariables())) {
        expectClose(grads[v.name] as tf.Tensor, expected[name]!.arraySync() as Nested, `grad ${name}`, { atol: 1e-7 });
      }
      tf.dispose([value, grads]);

      const adam = makeOptimizer('adam', 0.1);
      const losses = [optimizeStep(model.trainableVariables, () => crossEntropyLoss(model.call(X), labels), adam).loss];
      const after = torchTensors(fx.params_after_adam_step1 as Record<string, Nested>);
      for (const [name, v] of Object.entries(model.namedVariables())) expectClose(v, after[name]!.arraySync() as Nested, `${name} after Adam`);
      for (let i = 0; i < 2; i++) losses.push(optimizeStep(model.trainableVariables, () => crossEntropyLoss(model.call(X), labels), adam).loss);
      expectClose(losses, fx.losses_first_3_steps as number[], 'first three losses');
      adam.dispose();
      tf.dispose([X, labels]);
    });
  });
}

describe('hello -> ohlol', () => {
  beforeAll(() => useBackend('wasm'));
  it('learns the toy within 15 epochs and leaks no tensors', () => {
    const toy = helloToy();
    const start = tf.memory().numTensors;
    const model = new SeqClassifier({ vocabSize: 4, embeddingSize: 10, numHiddens: 8, numClasses: 4, seed: 1 });
    const before = tf.memory().numTensors;
    const history = trainSeqClassifier(model, { X: toy.input, Y: toy.target, batchSize: 1, numSteps: 5 }, { epochs: 15 });
    expect(tf.memory().numTensors).toBe(before);
    expect(history).toHaveLength(15);
    expect(history[14]!.loss).toBeLessThan(history[0]!.loss);
    expect(toy.decode(history[14]!.prediction[0]!)).toBe('ohlol');
    model.dispose();
    expect(tf.memory().numTensors).toBe(start);
  });

  it('rejects bad sizes', () => {
    expect(() => new SeqClassifier({ vocabSize: 0, embeddingSize: 10, numHiddens: 8, numClasses: 4 })).toThrow(/vocabSize/);
  });
});
