import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { SeqDataLoader } from '@rnnkit/data';
import { activeKernels, setKernelThreads, type State } from '@rnnkit/cells';
import { RNNModel, type RNNModelImplementation, type CellKind } from '@rnnkit/models';
import { useBackend } from '../../../test/backends.js';
import { languageModelLoss, makeOptimizer, trainEpoch, trainStep } from './index.js';

/** Token ids (batch, steps), entry i being f(i). */
const idTensor = (batch: number, steps: number, f: (i: number) => number): tf.Tensor2D =>
  tf.tensor2d(
    Int32Array.from({ length: batch * steps }, (_, i) => f(i)),
    [batch, steps],
    'int32',
  );

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

  it.each([
    ['fused', 'gru', 1, false, 8],
    ['fused', 'lstm', 2, true, 6],
    ['layers', 'rnn', 1, false, 8],
  ] as [RNNModelImplementation, CellKind, number, boolean, number][])(
    '%s %s (%d layers, bidirectional %s, H %d): loss() equals call() then languageModelLoss, value, state and gradients',
    (implementation, cell, numLayers, bidirectional, numHiddens) => {
      const start = tf.memory().numTensors;
      const model = new RNNModel({ vocabSize: 9, numHiddens, cell, numLayers, bidirectional, implementation, seed: 3 });
      const X = idTensor(4, 5, (i) => (i * 7) % 9);
      const Y = idTensor(4, 5, (i) => (i * 4 + 1) % 9);
      const zeros = model.beginState(4);
      const state = zeros.map((s) => tf.add(s, 0.25) as tf.Tensor2D);
      tf.dispose(zeros);
      const results = [true, false].map((fused) => {
        let next: tf.Tensor[] = [];
        const { value, grads } = tf.variableGrads(() => {
          if (fused) {
            const out = model.loss(X, Y, state);
            next = out.state.map((s) => tf.keep(s));
            return out.loss;
          }
          const out = model.call(X, state);
          next = out.state.map((s) => tf.keep(s));
          return languageModelLoss(out.logits, Y);
        }, model.trainableVariables);
        const names = Object.keys(grads).sort();
        const out = {
          value: value.dataSync()[0] as number,
          state: next.map((s) => Array.from(s.dataSync())),
          grads: names.map((n) => Array.from((grads[n] as tf.Tensor).dataSync())),
          names,
        };
        tf.dispose([value, ...next, ...Object.values(grads)]);
        return out;
      });
      const [fused, separate] = results as [(typeof results)[0], (typeof results)[0]];
      expect(fused.names).toEqual(separate.names);
      expect(Math.abs(fused.value - separate.value)).toBeLessThan(1e-5 * separate.value);
      expect(fused.state).toEqual(separate.state);
      fused.grads.forEach((g, i) => {
        const ref = separate.grads[i] as number[];
        const worst = Math.max(...g.map((v, j) => Math.abs(v - (ref[j] as number)) / (1e-3 + Math.abs(ref[j] as number))));
        expect(worst).toBeLessThan(1e-4);
      });
      const longer = tf.zeros([4, 6], 'int32') as tf.Tensor2D;
      expect(() => model.loss(X, longer, state)).toThrow(/Y must have X's shape \[4, 5\], got \[4, 6\]/);
      tf.dispose([X, Y, longer, ...state]);
      model.dispose();
      expect(tf.memory().numTensors).toBe(start);
    },
  );

  it.each([
    ['gru', 1, true],
    ['gru', 2, true],
    ['lstm', 2, true],
    ['lstm', 3, true],
    ['rnn', 1, true],
    ['gru', 1, false], // d2l's GRU, reset before
    ['gru', 3, false],
  ] as [CellKind, number, boolean][])(
    "fused %s, %d layer(s), reset after %s: lossGradients gives the tape's loss, gradients and state bit for bit, and leaks nothing",
    (cell, numLayers, resetAfter) => {
      const start = tf.memory().numTensors;
      const inUse = activeKernels()?.inUse;
      const model = new RNNModel({ vocabSize: 9, numHiddens: 8, cell, numLayers, resetAfter, seed: 5 });
      const X = idTensor(4, 5, (i) => (i * 7) % 9);
      const Y = idTensor(4, 5, (i) => (i * 4 + 1) % 9);
      const zeros = model.beginState(4);
      const state = zeros.map((s) => tf.add(s, 0.25) as tf.Tensor2D);
      tf.dispose(zeros);
      let next: tf.Tensor[] = [];
      const tape = tf.variableGrads(() => {
        const out = model.loss(X, Y, state);
        next = out.state.map((s) => tf.keep(s));
        return out.loss;
      }, model.trainableVariables);
      const own = model.lossGradients(X, Y, state);
      expect(own).not.toBeNull();
      const { loss, grads, state: after } = own!;
      expect(loss).toBe(tape.value.dataSync()[0]);
      // The same names in the same order (the optimizer's update and the norm go by it).
      expect(Object.keys(grads)).toEqual(Object.keys(tape.grads));
      for (const name of Object.keys(grads)) {
        expect(Array.from((grads[name] as tf.Tensor).dataSync()), name).toEqual(Array.from((tape.grads[name] as tf.Tensor).dataSync()));
        expect((grads[name] as tf.Tensor).shape, name).toEqual((tape.grads[name] as tf.Tensor).shape);
      }
      expect(after.map((s) => Array.from(s.dataSync()))).toEqual(next.map((s) => Array.from(s.dataSync())));
      tf.dispose([tape.value, ...Object.values(tape.grads), ...next, ...Object.values(grads), ...after]);
      tf.dispose([X, Y, ...state]);
      model.dispose();
      expect(tf.memory().numTensors).toBe(start);
      expect(activeKernels()?.inUse).toBe(inUse);
    },
  );

  it("lossGradients on 1, 2 and 3 threads (several row chunks, a 4-wide panel edge): the tape's bits, the same on each, no kernel memory left", async () => {
    const start = tf.memory().numTensors;
    const X = idTensor(12, 7, (i) => (i * 5 + (i >> 2)) % 11);
    const Y = idTensor(12, 7, (i) => (i * 3 + 2) % 11);
    const results: number[][][] = [];
    try {
      for (const threads of [1, 2, 3]) {
        setKernelThreads(threads);
        const k = activeKernels()!;
        if (threads > 1) expect(await k.pool?.whenReady()).toBe(true);
        const inUse = k.inUse;
        const bits: number[][] = [];
        for (const [cell, numLayers, resetAfter] of [
          ['gru', 2, true],
          ['lstm', 1, true],
          ['gru', 1, false],
        ] as [CellKind, number, boolean][]) {
          const model = new RNNModel({ vocabSize: 11, numHiddens: 20, cell, numLayers, resetAfter, seed: 7 });
          const state = model.beginState(12);
          const tape = tf.variableGrads(() => model.loss(X, Y, state).loss, model.trainableVariables);
          const own = model.lossGradients(X, Y, state)!;
          expect(own.loss).toBe(tape.value.dataSync()[0]);
          for (const name of Object.keys(tape.grads)) {
            const g = Array.from((own.grads[name] as tf.Tensor).dataSync());
            expect(g, `${cell} ${name} on ${threads} threads`).toEqual(Array.from((tape.grads[name] as tf.Tensor).dataSync()));
            bits.push(g);
          }
          tf.dispose([tape.value, ...Object.values(tape.grads), ...Object.values(own.grads), ...own.state, ...state]);
          model.dispose();
        }
        expect(k.inUse).toBe(inUse);
        results.push(bits);
      }
    } finally {
      setKernelThreads('auto');
    }
    expect(results[1]).toEqual(results[0]);
    expect(results[2]).toEqual(results[0]);
    tf.dispose([X, Y]);
    expect(tf.memory().numTensors).toBe(start);
  });

  it('lossGradients declines where the tape must run: a frozen variable, a loss of its own, a state of another batch', () => {
    const X = tf.zeros([4, 5], 'int32') as tf.Tensor2D;
    const model = new RNNModel({ vocabSize: 9, numHiddens: 8, cell: 'gru', seed: 1 });
    const state = model.beginState(4);
    const other = model.beginState(8);
    expect(model.lossGradients(X, X, other)).toBeNull();
    const frozen = model.trainableVariables[1]!;
    frozen.trainable = false;
    expect(model.lossGradients(X, X, state)).toBeNull();
    frozen.trainable = true;
    class Regularised extends RNNModel {
      override loss(x: tf.Tensor2D, y: tf.Tensor2D, s: State) {
        return super.loss(x, y, s);
      }
    }
    const sub = new Regularised({ vocabSize: 9, numHiddens: 8, cell: 'gru', seed: 1 });
    expect(sub.lossGradients(X, X, state)).toBeNull();
    expect(sub.lossGradientsInKernels(X, X, state)).toBeNull();
    // A subclass's own lossGradients: the in-kernels step declines, so the training loop calls it.
    let calls = 0;
    class Watched extends RNNModel {
      override lossGradients(x: tf.Tensor2D, y: tf.Tensor2D, s: State) {
        calls++;
        return super.lossGradients(x, y, s);
      }
    }
    const watched = new Watched({ vocabSize: 9, numHiddens: 8, cell: 'gru', seed: 1 });
    expect(watched.lossGradientsInKernels(X, X, state)).toBeNull();
    const opt = makeOptimizer('sgd', 1);
    const step = trainStep(watched, X, X, state, opt, 1);
    expect(calls).toBe(1);
    expect(Number.isFinite(step.loss)).toBe(true);
    tf.dispose(step.state);
    // A trainable variable the passes know nothing of: declined before any work.
    const extra = tf.tidy(() => tf.variable(tf.zeros([2])));
    class Extended extends RNNModel {
      override namedVariables() {
        return { ...super.namedVariables(), extra };
      }
    }
    const extended = new Extended({ vocabSize: 9, numHiddens: 8, cell: 'gru', seed: 1 });
    expect(extended.lossGradientsInKernels(X, X, state)).toBeNull();
    expect(extended.lossGradients(X, X, state)).toBeNull();
    extended.dispose();
    tf.dispose([X, ...state, ...other, extra]);
    opt.dispose();
    model.dispose();
    sub.dispose();
    watched.dispose();
  });

  it.each(['sgd', 'adam'] as const)(
    '%s: training steps go without the tape where lossGradientsInKernels applies (the same bits as with it), and with it where not',
    (optimizer) => {
      const corpus = Int32Array.from({ length: 400 }, (_, i) => (i * 5 + (i >> 3)) % 9);
      const train = (tapeOnly: boolean, numHiddens: number) => {
        const model = new RNNModel({ vocabSize: 9, numHiddens, cell: 'gru', seed: 2 });
        const own = vi.spyOn(model, 'lossGradientsInKernels');
        // The loop falls back to lossGradients (the same passes): both decline for the tape.
        if (tapeOnly) {
          own.mockReturnValue(null);
          vi.spyOn(model, 'lossGradients').mockReturnValue(null);
        }
        const opt = makeOptimizer(optimizer, optimizer === 'sgd' ? 1 : 0.01);
        const loader = new SeqDataLoader(corpus, { batchSize: 4, numSteps: 6, seed: 1 });
        const epochs = [0, 1, 2].map(() => trainEpoch(model, loader, opt, { theta: 1 }).perplexity);
        const weights = model.trainableVariables.map((v) => Array.from(v.dataSync()));
        const results = own.mock.results.map((r) => r.value !== null);
        opt.dispose();
        model.dispose();
        return { epochs, weights, results };
      };
      const direct = train(false, 8);
      const tape = train(true, 8);
      expect(direct.results.length).toBeGreaterThan(0);
      expect(direct.results.every(Boolean)).toBe(true);
      expect(direct.epochs).toEqual(tape.epochs);
      expect(direct.weights).toEqual(tape.weights);
      // A hidden size the kernels do not take: lossGradientsInKernels declines, the tape runs.
      expect(train(false, 6).results.some(Boolean)).toBe(false);
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
