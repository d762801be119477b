import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { RNNModel, type RNNModelOptions } from '@rnnkit/models';
import { useBackend } from '../../../test/backends.js';
import { makeOptimizer, trainStep } from './index.js';
import { DataParallelTrainer } from './parallel.js';

// The worker threads load the built packages (pnpm build runs before the tests in CI).
const setup = (options: RNNModelOptions) => ({
  imports: ['@tensorflow/tfjs-backend-wasm'],
  backend: 'wasm',
  afterBackend: [{ module: '@rnnkit/cells', exportName: 'installWasmKernels' }],
  model: { module: '@rnnkit/models', exportName: 'RNNModel', options },
});

describe('DataParallelTrainer (two threads)', () => {
  beforeAll(() => useBackend('wasm'));

  it('takes the same steps as one thread on the whole minibatch (state carried, then reset), and leaks nothing', async () => {
    const options: RNNModelOptions = { vocabSize: 11, numHiddens: 12, cell: 'gru', numLayers: 2, seed: 3 };
    const start = tf.memory().numTensors;
    const single = new RNNModel(options);
    const parallel = new RNNModel(options);
    const trainer = await DataParallelTrainer.create(parallel, setup(options));
    const [o1, o2] = [makeOptimizer('adam', 0.01), makeOptimizer('adam', 0.01)];
    let state = single.beginState(5);
    for (let i = 0; i < 4; i++) {
      const reset = i === 2; // a new epoch: fresh state on both sides
      if (reset) {
        tf.dispose(state);
        state = single.beginState(5);
      }
      const X = Int32Array.from({ length: 5 * 7 }, (_, j) => (j * 3 + i * 5) % 11);
      const Y = Int32Array.from(X, (x) => (x + 1) % 11);
      const Xt = tf.tensor2d(X, [5, 7], 'int32');
      const Yt = tf.tensor2d(Y, [5, 7], 'int32');
      const a = trainStep(single, Xt, Yt, state, o1, 0.5);
      tf.dispose([Xt, Yt, ...state]);
      state = a.state;
      const b = await trainer.step({ X, Y, batchSize: 5, numSteps: 7 }, i === 0 || reset, o2, 0.5);
      expect(b.loss).toBeCloseTo(a.loss, 5);
      expect(b.gradNorm).toBeCloseTo(a.gradNorm, 4);
    }
    const sv = single.namedVariables();
    for (const [name, v] of Object.entries(parallel.namedVariables())) {
      const diff = tf.tidy(() => tf.max(tf.abs(tf.sub(v, sv[name] as tf.Tensor))).dataSync()[0] as number);
      expect(diff, name).toBeLessThan(1e-5);
    }
    await trainer.dispose();
    o2.dispose();
    parallel.dispose();
    tf.dispose(state);
    o1.dispose();
    single.dispose();
    expect(tf.memory().numTensors).toBe(start);
  });

  it('refuses a worker model that differs from this one', async () => {
    const model = new RNNModel({ vocabSize: 11, numHiddens: 4, cell: 'gru' });
    await expect(DataParallelTrainer.create(model, setup({ vocabSize: 11, numHiddens: 4, cell: 'lstm', numLayers: 2 }))).rejects.toThrow(/same options/);
    model.dispose();
  });
});
