import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../test/backends.js';
import { clipGradsByGlobalNorm, globalNorm } from './clip.js';

describe('clipGradsByGlobalNorm', () => {
  beforeAll(() => useBackend('cpu'));

  it('computes the global L2 norm over all gradients', () => {
    const n = globalNorm([tf.tensor([3, 0]), tf.tensor([[4]])]);
    expect(n.dataSync()[0]).toBeCloseTo(5, 6);
  });

  it('leaves gradients below theta unchanged and scales larger ones to norm theta', () => {
    const grads = { a: tf.tensor([3, 0]), b: tf.tensor([[4]]) };
    const below = clipGradsByGlobalNorm(grads, 10);
    expect(below.norm.dataSync()[0]).toBeCloseTo(5, 6);
    expect([...below.grads.a!.dataSync()]).toEqual([3, 0]);
    const above = clipGradsByGlobalNorm(grads, 1);
    expect([...above.grads.a!.dataSync()].map((x) => +x.toFixed(6))).toEqual([0.6, 0]);
    expect(above.grads.b!.dataSync()[0]).toBeCloseTo(0.8, 6);
    expect(globalNorm(Object.values(above.grads)).dataSync()[0]).toBeCloseTo(1, 6);
  });

  it('rejects theta <= 0', () => {
    expect(() => clipGradsByGlobalNorm({ a: tf.scalar(1) }, 0)).toThrow(/theta must be > 0/);
  });
});
