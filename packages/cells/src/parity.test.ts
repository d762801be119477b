import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { describeScratchFixtures, expectClose, fixtureInputs, type Nested } from '../../../test/backends.js';
import { oneHotFloat, RNNModelScratch } from './index.js';

// The PyTorch float64 fixtures of test/fixtures/parity: same weights and inputs, so the same logits,
// state, loss and gradients prove the scratch cells compute d2l's functions.

describeScratchFixtures('', (fx, cell, getModel) => {
  it("has d2l's parameter names and shapes", () => {
    const fresh = new RNNModelScratch({ vocabSize: 28, numHiddens: 16, ...cell, seed: 1 });
    const shapes = Object.fromEntries(Object.entries(fresh.params).map(([k, v]) => [k, v.shape]));
    expect(Object.keys(shapes)).toEqual(Object.keys(fx.params));
    for (const [k, s] of Object.entries(shapes)) expect(s, k).toEqual(k.startsWith('b_') ? [k === 'b_q' ? 28 : 16] : s);
    for (const [k, v] of Object.entries(fresh.params)) {
      const values = Array.from(v.dataSync());
      if (k.startsWith('b_')) expect(Math.max(...values.map(Math.abs)), k).toBe(0);
      else {
        const std = Math.sqrt(values.reduce((a, x) => a + x * x, 0) / values.length);
        expect(std, `${k} std`).toBeGreaterThan(0.005);
        expect(std, `${k} std`).toBeLessThan(0.02);
      }
    }
    fresh.dispose();
  });

  it('matches logits, final state and loss', () => {
    const { X, Y, state0 } = fixtureInputs(fx);
    const { logits, state } = getModel().call(X, state0);
    expectClose(logits, fx.logits as Nested, 'logits');
    expect(state.length).toBe((fx.state as Nested[]).length);
    state.forEach((s, i) => {
      expectClose(s, (fx.state as Nested[])[i] as Nested, `state[${i}]`);
    });
    const targets = oneHotFloat(tf.reshape(tf.transpose(Y), [-1]) as tf.Tensor1D, fx.sizes.vocab as number);
    const loss = tf.losses.softmaxCrossEntropy(targets, logits, undefined, 0, tf.Reduction.MEAN);
    expectClose(loss.dataSync()[0] as number, fx.loss as number, 'loss');
    tf.dispose([X, Y, ...state0, logits, ...state, targets, loss]);
  });

  it('matches every gradient and the global gradient norm', () => {
    const model = getModel();
    const { X, Y, state0 } = fixtureInputs(fx);
    const { value, grads } = tf.variableGrads(() => {
      const { logits } = model.call(X, state0);
      const targets = oneHotFloat(tf.reshape(tf.transpose(Y), [-1]) as tf.Tensor1D, fx.sizes.vocab as number);
      return tf.losses.softmaxCrossEntropy(targets, logits, undefined, 0, tf.Reduction.MEAN) as tf.Scalar;
    }, model.trainableVariables);
    const byName = Object.entries(model.params);
    let sq = 0;
    for (const [pname, v] of byName) {
      const g = grads[v.name] as tf.Tensor;
      expectClose(g, (fx.grads as Record<string, Nested>)[pname] as Nested, `grad ${pname}`, { atol: 1e-7 });
      sq += tf.sum(tf.square(g)).dataSync()[0] as number;
    }
    expectClose(Math.sqrt(sq), fx.grad_norm as number, 'grad norm');
    tf.dispose([X, Y, ...state0, value, grads]);
  });
});
