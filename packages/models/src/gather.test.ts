import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { TEST_BACKENDS, useBackend } from '../../../test/backends.js';
import { useKernels, watchOpPaths } from '@rnnkit/cells';
import { gatherRows } from './index.js';

for (const backend of TEST_BACKENDS) {
  describe(`gatherRows on ${backend}`, () => {
    beforeAll(() => useBackend(backend));

    it('equals one-hot times W, forward and backward (repeated ids add up)', () => {
      const W = tf.tensor2d([
        [1, 2],
        [3, 4],
        [5, 6],
      ]);
      const ids = Int32Array.from([2, 0, 2, 1, 2]);
      const upstream = tf.tensor2d([
        [1, 1],
        [2, 0],
        [0, 3],
        [1, -1],
        [0.5, 0.5],
      ]);
      const f = (w: tf.Tensor) => tf.sum(tf.mul(gatherRows(ids, w as tf.Tensor2D), upstream));
      const g = (w: tf.Tensor) =>
        tf.sum(tf.mul(tf.matMul(tf.cast(tf.oneHot(tf.tensor1d(ids, 'int32'), 3), 'float32') as tf.Tensor2D, w as tf.Tensor2D), upstream));
      expect(gatherRows(ids, W).arraySync()).toEqual([
        [5, 6],
        [1, 2],
        [5, 6],
        [3, 4],
        [5, 6],
      ]);
      expect(tf.grad(f)(W).arraySync()).toEqual(tf.grad(g)(W).arraySync());
      expect(tf.grad(f)(W).arraySync()).toEqual([
        [2, 0],
        [1, -1],
        [1.5, 4.5],
      ]);
    });

    it('on the kernels (rows of 4 floats) equals its JS loops, forward and backward, and reports the path', () => {
      const W = tf.tensor2d(
        Float32Array.from({ length: 5 * 8 }, (_, i) => Math.sin(i)),
        [5, 8],
      );
      const ids = Int32Array.from([4, 0, 4, 1, 2, 2, 3]);
      const upstream = tf.tensor2d(
        Float32Array.from({ length: 7 * 8 }, (_, i) => Math.cos(i)),
        [7, 8],
      );
      const run = () =>
        watchOpPaths(() => {
          const value = gatherRows(ids, W);
          const grad = tf.grad((w: tf.Tensor) => tf.sum(tf.mul(gatherRows(ids, w as tf.Tensor2D), upstream)))(W);
          const out = { value: Array.from(value.dataSync()), grad: Array.from(grad.dataSync()) };
          tf.dispose([value, grad]);
          return out;
        });
      const before = tf.memory().numTensors;
      const onKernels = run();
      useKernels(false);
      const inJs = run();
      useKernels(true);
      expect(onKernels.paths).toEqual([{ op: 'gatherRows', kernels: true }]);
      expect(inJs.paths).toEqual([{ op: 'gatherRows', kernels: false, reason: 'turned off (useKernels(false))' }]);
      expect(onKernels.result).toEqual(inJs.result);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose([W, upstream]);
    });

    it('rejects ids outside the vocabulary', () => {
      expect(() => gatherRows(Int32Array.from([3]), tf.zeros([3, 2]) as tf.Tensor2D)).toThrow(/Token id 3 is outside the vocabulary of 3/);
    });
  });
}
