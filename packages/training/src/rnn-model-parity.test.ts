import * as tf from '@tensorflow/tfjs-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assignVariables, gruCell, lstmCell, rnnCell, RNNModelScratch } from '@rnnkit/cells';
import { RNNModel, fromTorchNames, type CellKind, useKernels } from '@rnnkit/models';
import { TEST_BACKENDS, expectClose, flat, loadFixture, tensorOf, tensorsOf, useBackend, type Nested } from '../../../test/backends.js';
import { makeOptimizer, trainStep } from './index.js';

const torchTensors = (entries: Record<string, Nested>) => fromTorchNames(tensorsOf(entries));
const stateOf = (fx: Nested) => (fx as Nested[]).flatMap((part) => (part as Nested[]).map((s) => tensorOf(s) as tf.Tensor2D));

// PyTorch nn.RNN/GRU/LSTM + nn.Linear (float64) against the fused implementation (float32):
// logits, final state, loss, every gradient and one clipped SGD step.
const cases: [string, CellKind, number, boolean][] = [
  ['concise_rnn', 'rnn', 1, false],
  ['concise_gru', 'gru', 1, false],
  ['concise_lstm', 'lstm', 1, false],
  ['concise_gru_2layer', 'gru', 2, false],
  ['concise_lstm_bidirectional', 'lstm', 1, true],
];

// The fused gate work runs on the WebAssembly SIMD kernels by default (the fixtures' hidden size 4
// is a whole number of lanes) and on the JS loops where those are unavailable: both are checked.
for (const [backend, gates] of TEST_BACKENDS.flatMap(
  (b) =>
    [
      [b, 'wasm gates'],
      [b, 'JS gates'],
    ] as const,
)) {
  describe.each(cases)(`%s, fused, on ${backend} with ${gates}`, (name, cell, numLayers, bidirectional) => {
    const fx = loadFixture(name);
    let model: RNNModel;
    beforeAll(async () => {
      await useBackend(backend);
      useKernels(gates === 'wasm gates');
      model = new RNNModel({ vocabSize: fx.sizes.vocab as number, numHiddens: fx.sizes.hidden as number, cell, numLayers, bidirectional });
      assignVariables(model.namedVariables(), torchTensors(fx.params));
    });
    afterAll(() => {
      model.dispose();
      useKernels(true);
    });

    it('matches logits, state, loss, gradients and one clipped SGD step', () => {
      const X = tf.tensor2d(fx.X, undefined, 'int32');
      const Y = tf.tensor2d(fx.Y as number[][], undefined, 'int32');
      const state0 = stateOf(fx.state0 as Nested);
      const { logits, state } = model.call(X, state0);
      expectClose(logits, fx.logits as Nested, 'logits');
      expect(state.length).toBe(flat(fx.state as Nested).length / (X.shape[0] * (fx.sizes.hidden as number)));
      state.forEach((s, i) => {
        expectClose(s, stateOf(fx.state as Nested)[i]!.arraySync() as Nested, `state[${i}]`);
      });

      const grads = tf.variableGrads(() => {
        const out = model.call(X, state0);
        const targets = tf.oneHot(tf.reshape(tf.transpose(Y), [-1]) as tf.Tensor1D, fx.sizes.vocab as number);
        return tf.losses.softmaxCrossEntropy(tf.cast(targets, 'float32'), out.logits, undefined, 0, tf.Reduction.MEAN) as tf.Scalar;
      }, model.trainableVariables);
      expectClose(grads.value, fx.loss as number, 'loss');
      const expectedGrads = torchTensors(fx.grads as Record<string, Nested>);
      for (const [pname, v] of Object.entries(model.namedVariables())) {
        expectClose(grads.grads[v.name] as tf.Tensor, expectedGrads[pname]!.arraySync() as Nested, `grad ${pname}`, { atol: 1e-7 });
      }

      const opt = makeOptimizer('sgd', fx.lr as number);
      const step = trainStep(model, X, Y, state0, opt, fx.clip_theta as number);
      expectClose(step.gradNorm, fx.grad_norm as number, 'grad norm');
      const after = torchTensors(fx.params_after_clipped_sgd as Record<string, Nested>);
      for (const [pname, v] of Object.entries(model.namedVariables())) expectClose(v, after[pname]!.arraySync() as Nested, `${pname} after step`);
      opt.dispose();
    });
  });
}

// The fused GRU with resetAfter false and the fused RNN/LSTM compute the scratch cells' functions.
const scratchCases = [
  ['scratch_rnn', 'rnn', rnnCell, ['h']],
  ['scratch_gru', 'gru', gruCell, ['r', 'z', 'h']],
  ['scratch_lstm', 'lstm', lstmCell, ['i', 'f', 'c', 'o']],
] as const;

for (const backend of TEST_BACKENDS) {
  describe.each(scratchCases)(`fused against %s on ${backend}`, (name, cell, scratchCell, gates) => {
    beforeAll(() => useBackend(backend));

    it("gives the scratch model's logits, state and gradients on the same weights", () => {
      const fx = loadFixture(name);
      const V = fx.sizes.vocab as number;
      const H = fx.sizes.hidden as number;
      const scratch = new RNNModelScratch({ vocabSize: V, numHiddens: H, ...scratchCell });
      const p = tensorsOf(fx.params);
      assignVariables(scratch.params, p);
      const fused = new RNNModel({ vocabSize: V, numHiddens: H, cell, resetAfter: false });
      assignVariables(fused.namedVariables(), {
        W_ih_l0: tf.concat(
          gates.map((g) => p[`W_x${g}`]!),
          1,
        ),
        W_hh_l0: tf.concat(
          gates.map((g) => p[`W_h${g}`]!),
          1,
        ),
        b_ih_l0: tf.concat(
          gates.map((g) => p[`b_${g}`]!),
          0,
        ),
        b_hh_l0: tf.zeros([gates.length * H]),
        W_out: p.W_hq!,
        b_out: p.b_q!,
      });
      const X = tf.tensor2d(fx.X, undefined, 'int32');
      const state0 = (fx.state0 as Nested[]).map((s) => tensorOf(s) as tf.Tensor2D);
      const loss = (m: RNNModelScratch | RNNModel) => () => tf.sum(tf.square(m.call(X, state0).logits)) as tf.Scalar;
      const a = scratch.call(X, state0);
      const b = fused.call(X, state0);
      expectClose(b.logits, a.logits.arraySync() as Nested, 'logits');
      b.state.forEach((s, i) => {
        expectClose(s, a.state[i]!.arraySync() as Nested, `state[${i}]`);
      });
      const ga = tf.variableGrads(loss(scratch), scratch.trainableVariables).grads;
      const gb = tf.variableGrads(loss(fused), fused.trainableVariables).grads;
      const fv = fused.namedVariables();
      const sg = (n: string) => ga[scratch.params[n]!.name]!;
      expectClose(
        gb[fv.W_hh_l0!.name]!,
        tf
          .concat(
            gates.map((g) => sg(`W_h${g}`)),
            1,
          )
          .arraySync() as Nested,
        'dW_hh',
        { atol: 1e-6 },
      );
      expectClose(
        gb[fv.W_ih_l0!.name]!,
        tf
          .concat(
            gates.map((g) => sg(`W_x${g}`)),
            1,
          )
          .arraySync() as Nested,
        'dW_ih',
        { atol: 1e-6 },
      );
      expectClose(gb[fv.W_out!.name]!, sg('W_hq').arraySync() as Nested, 'dW_out', { atol: 1e-6 });
      scratch.dispose();
      fused.dispose();
    });
  });
}
