import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { assignVariables } from '@rnnkit/cells';
import { TEST_BACKENDS, expectClose, fixtureInputs, loadFixture, tensorOf, tensorsOf, useBackend, type Nested } from '../../../test/backends.js';
import { RNNModel, fromTorchNames } from './index.js';

// The layers implementation (tf.layers.simpleRNN/lstm/gru) against PyTorch: RNN and LSTM on the
// concise fixtures (tf.layers has one bias: b_ih + b_hh), the GRU on the scratch fixture, since
// tf.layers.gru applies the reset gate before the recurrent matmul as d2l does (gate order z, r, h).
function lossAndGrads(model: RNNModel, X: tf.Tensor2D, Y: tf.Tensor2D, state0: tf.Tensor2D[], V: number) {
  return tf.variableGrads(() => {
    const { logits } = model.call(X, state0);
    const t = tf.cast(tf.oneHot(tf.reshape(tf.transpose(Y), [-1]) as tf.Tensor1D, V), 'float32');
    return tf.losses.softmaxCrossEntropy(t, logits, undefined, 0, tf.Reduction.MEAN) as tf.Scalar;
  }, model.trainableVariables);
}

for (const backend of TEST_BACKENDS) {
  describe(`layers implementation on ${backend}`, () => {
    beforeAll(() => useBackend(backend));

    it.each(['rnn', 'lstm'] as const)('concise_%s: logits, loss and gradients match PyTorch', (cell) => {
      const fx = loadFixture(`concise_${cell}`);
      const V = fx.sizes.vocab as number;
      const torch = fromTorchNames(tensorsOf(fx.params));
      const model = new RNNModel({ vocabSize: V, numHiddens: fx.sizes.hidden as number, cell, implementation: 'layers' });
      const names = Object.keys(model.namedVariables()).sort();
      expect(names).toEqual(['W_out', 'b_out', 'bias_l0', 'kernel_l0', 'recurrent_kernel_l0']);
      assignVariables(model.namedVariables(), {
        kernel_l0: torch.W_ih_l0!,
        recurrent_kernel_l0: torch.W_hh_l0!,
        bias_l0: tf.add(torch.b_ih_l0!, torch.b_hh_l0!),
        W_out: torch.W_out!,
        b_out: torch.b_out!,
      });
      const X = tf.tensor2d(fx.X, undefined, 'int32');
      const Y = tf.tensor2d(fx.Y as number[][], undefined, 'int32');
      const state0 = (fx.state0 as Nested[]).map((s) => tensorOf((s as Nested[])[0] as Nested) as tf.Tensor2D);
      expectClose(model.call(X, state0).logits, fx.logits as Nested, 'logits');
      const { value, grads } = lossAndGrads(model, X, Y, state0, V);
      expectClose(value, fx.loss as number, 'loss');
      const g = fromTorchNames(tensorsOf(fx.grads as Record<string, Nested>));
      const vars = model.namedVariables();
      expectClose(grads[vars.kernel_l0!.name]!, g.W_ih_l0!.arraySync() as Nested, 'd kernel', { atol: 1e-7 });
      expectClose(grads[vars.recurrent_kernel_l0!.name]!, g.W_hh_l0!.arraySync() as Nested, 'd recurrent kernel', { atol: 1e-7 });
      expectClose(grads[vars.bias_l0!.name]!, g.b_ih_l0!.arraySync() as Nested, 'd bias', { atol: 1e-7 });
      expectClose(grads[vars.W_out!.name]!, g.W_out!.arraySync() as Nested, 'd W_out', { atol: 1e-7 });
      model.dispose();
    });

    it("scratch_gru: the layers GRU computes d2l's GRU (logits, loss, gradients)", () => {
      const fx = loadFixture('scratch_gru');
      const V = fx.sizes.vocab as number;
      const p = tensorsOf(fx.params);
      const model = new RNNModel({ vocabSize: V, numHiddens: fx.sizes.hidden as number, cell: 'gru', implementation: 'layers' });
      const zrh = ['z', 'r', 'h'];
      assignVariables(model.namedVariables(), {
        kernel_l0: tf.concat(
          zrh.map((g) => p[`W_x${g}`]!),
          1,
        ),
        recurrent_kernel_l0: tf.concat(
          zrh.map((g) => p[`W_h${g}`]!),
          1,
        ),
        bias_l0: tf.concat(
          zrh.map((g) => p[`b_${g}`]!),
          0,
        ),
        W_out: p.W_hq!,
        b_out: p.b_q!,
      });
      const { X, Y, state0 } = fixtureInputs(fx);
      expectClose(model.call(X, state0).logits, fx.logits as Nested, 'logits');
      const { value, grads } = lossAndGrads(model, X, Y, state0, V);
      expectClose(value, fx.loss as number, 'loss');
      const fg = fx.grads as Record<string, Nested>;
      const vars = model.namedVariables();
      const cat = (prefix: string) =>
        tf
          .concat(
            zrh.map((g) => tensorOf(fg[`${prefix}${g}`]!)),
            prefix === 'b_' ? 0 : 1,
          )
          .arraySync() as Nested;
      expectClose(grads[vars.kernel_l0!.name]!, cat('W_x'), 'd kernel', { atol: 1e-7 });
      expectClose(grads[vars.recurrent_kernel_l0!.name]!, cat('W_h'), 'd recurrent kernel', { atol: 1e-7 });
      expectClose(grads[vars.bias_l0!.name]!, cat('b_'), 'd bias', { atol: 1e-7 });
      model.dispose();
    });
  });
}
