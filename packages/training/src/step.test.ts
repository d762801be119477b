import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test/backends.js';
import { optimizeStep } from './step.js';

/** Two variables, a loss over a few ops that save their inputs or outputs for the gradient. */
function problem(seed: number) {
  const [w0, b0] = [tf.randomNormal([6, 4], 0, 0.5, 'float32', seed), tf.zeros([4])];
  const w = tf.variable(w0, true, `stepW${seed}`);
  const b = tf.variable(b0, true, `stepB${seed}`);
  tf.dispose([w0, b0]);
  const x = tf.randomNormal([5, 6], 0, 1, 'float32', seed + 1);
  const loss = () => tf.mean(tf.square(tf.sub(tf.tanh(tf.add(tf.matMul(x, w), b)), 0.25))) as tf.Scalar;
  return { w, b, x, loss };
}

/** `optimizeStep` under `tf.profile`: the loss and gradient norm, the weights after, kernel runs by name. */
async function profiledStep(seed: number, withStep: (vars: tf.Variable[], loss: () => tf.Scalar) => { loss: number; gradNorm: number }) {
  const { w, b, x, loss } = problem(seed);
  let result = { loss: 0, gradNorm: 0 };
  const info = await tf.profile(() => {
    result = withStep([w, b], loss);
  });
  const kernels: Record<string, number> = {};
  for (const k of info.kernels) kernels[k.name] = (kernels[k.name] ?? 0) + 1;
  const weights = [Array.from(w.dataSync()), Array.from(b.dataSync())];
  tf.dispose([w, b, x]);
  return { result, kernels, weights };
}

describe('optimizeStep on wasm with rnnkit kernels', () => {
  beforeAll(() => useBackend('wasm'));

  it("keeps the tape's saved tensors as shares: no Identity runs for them, the engine's bits, memory flat", async () => {
    const sgd = () => tf.train.sgd(0.5);
    // The engine's own copies (tf.variableGrads alone), then TensorFlow.js's SGD update: the bits
    // optimizeStep must give with its shares and its update on the kernels.
    const stock = await profiledStep(3, (vars, loss) => {
      const { value, grads } = tf.variableGrads(loss, vars);
      const optimizer = sgd();
      optimizer.applyGradients(grads);
      optimizer.dispose();
      const out = { loss: value.dataSync()[0] as number, gradNorm: 0 };
      tf.dispose([value, ...Object.values(grads)]);
      return out;
    });
    const step = (vars: tf.Variable[], loss: () => tf.Scalar) => {
      const optimizer = sgd();
      const out = optimizeStep(vars, loss, optimizer);
      optimizer.dispose();
      return out;
    };
    await profiledStep(3, step); // the first update on the kernels keeps what later ones reuse
    const before = tf.memory().numTensors;
    const shared = await profiledStep(3, step);
    expect(tf.memory().numTensors).toBe(before);
    expect(stock.kernels.Identity).toBeGreaterThan(2);
    expect(shared.kernels.Identity).toBeUndefined();
    expect(shared.result.loss).toBe(stock.result.loss);
    expect(shared.weights).toEqual(stock.weights);
    expect(Object.prototype.hasOwnProperty.call(tf.engine(), 'saveTensorsForBackwardMode')).toBe(false);
  });
});
