import * as tf from '@tensorflow/tfjs-core';
import { expect, it } from 'vitest';
import { assignVariables } from '@rnnkit/cells';
import { describeScratchFixtures, expectClose, fixtureInputs, tensorOf, tensorsOf, type Nested } from '../../../test/backends.js';
import { languageModelLoss, makeOptimizer, trainStep } from './index.js';

// One clipped SGD step (theta 1, lr 1) on PyTorch's fixtures: loss, gradient norm and every
// parameter afterwards must match, which proves the loss, clipping and update.

describeScratchFixtures(', one clipped SGD step', (fx, _cell, getModel) => {
  it('matches loss, gradient norm and the parameters after the step', () => {
    const model = getModel();
    const { X, Y, state0 } = fixtureInputs(fx);
    const { logits } = model.call(X, state0);
    expectClose(languageModelLoss(logits, Y), fx.loss as number, 'languageModelLoss');
    const opt = makeOptimizer('sgd', fx.lr as number);
    const result = trainStep(model, X, Y, state0, opt, fx.clip_theta as number);
    expectClose(result.loss, fx.loss as number, 'loss');
    expectClose(result.gradNorm, fx.grad_norm as number, 'grad norm');
    expect(fx.grad_norm as number).toBeLessThan(fx.clip_theta as number);
    for (const [pname, v] of Object.entries(model.params)) {
      expectClose(v, (fx.params_after_clipped_sgd as Record<string, Nested>)[pname] as Nested, `${pname} after step`);
    }
    result.state.forEach((s, i) => {
      expectClose(s, (fx.state as Nested[])[i] as Nested, `state[${i}]`);
    });
    tf.dispose([X, Y, logits, ...state0, ...result.state]);
    opt.dispose();
  });

  it('clips: with theta below the norm, the step is the fixture gradient scaled to norm theta', () => {
    const model = getModel();
    const theta = 0.25;
    const before = Object.fromEntries(Object.entries(model.params).map(([k, v]) => [k, tf.clone(v)]));
    assignVariables(model.params, tensorsOf(fx.params));
    const { X, Y, state0 } = fixtureInputs(fx);
    const opt = makeOptimizer('sgd', 0.5);
    const result = trainStep(model, X, Y, state0, opt, theta);
    const scale = (0.5 * theta) / (fx.grad_norm as number);
    for (const [pname, v] of Object.entries(model.params)) {
      const p0 = (fx.params as Record<string, Nested>)[pname] as Nested;
      const g = (fx.grads as Record<string, Nested>)[pname] as Nested;
      const expected = tf.tidy(() => tf.sub(tensorOf(p0), tf.mul(tensorOf(g), scale)).arraySync() as Nested);
      expectClose(v, expected, `${pname} after clipped step`);
    }
    tf.dispose([X, Y, ...state0, ...result.state, ...Object.values(before)]);
    opt.dispose();
  });
});
