import * as tf from '@tensorflow/tfjs-core';
import { afterEach, describe, expect, it } from 'vitest';
import { useBackend } from '../../../../test/backends.js';
import { activeKernels, Kernels } from './simd.js';
import { setKernelThreads } from './threads.js';
import '../index.node.js';

/** tanh and exp of each input as float arrays, and how many kernel jobs had several chunks and threads to run them. */
function tanhAndExp(inputs: tf.Tensor[]): { values: number[][]; chunkedJobs: number } {
  const split = Kernels.prototype.split;
  let chunkedJobs = 0;
  Kernels.prototype.split = function (this: Kernels, ...args: Parameters<Kernels['split']>) {
    if (args[0].length > 1 && this.threads > 1) chunkedJobs++;
    split.apply(this, args);
  };
  try {
    const values = inputs.flatMap((x) =>
      [tf.tanh(x), tf.exp(x)].map((y) => {
        const v = Array.from(y.dataSync());
        y.dispose();
        return v;
      }),
    );
    return { values, chunkedJobs };
  } finally {
    Kernels.prototype.split = split;
  }
}

describe("Tanh and Exp on the kernels' threads", () => {
  afterEach(() => setKernelThreads('auto'));

  it('give the bits of one thread on 2 and 3, in chunks of whole vectors, odd lengths too', async () => {
    await useBackend('wasm');
    const inputs = [tf.linspace(-12, 12, 40_003), tf.randomNormal([32, 512], 0, 3, 'float32', 1), tf.tensor1d([0.5, -2, 90])];
    setKernelThreads(1);
    const one = tanhAndExp(inputs);
    expect(one.chunkedJobs).toBe(0);
    for (const threads of [2, 3]) {
      setKernelThreads(threads);
      await activeKernels()?.pool?.whenReady();
      const many = tanhAndExp(inputs);
      // Both kernels of both large inputs ran as jobs of several chunks.
      expect(many.chunkedJobs, `${threads} threads`).toBe(4);
      expect(many.values, `${threads} threads`).toEqual(one.values);
    }
    tf.dispose(inputs);
  });
});
