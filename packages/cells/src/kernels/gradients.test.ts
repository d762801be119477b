import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { useBackend } from '../../../../test/backends.js';
import { GradientsInKernels } from './gradients.js';
import { activeKernels, type Kernels } from './simd.js';

describe('GradientsInKernels', () => {
  beforeAll(() => useBackend('wasm'));

  it("lays the gradients out back to back in the variables' order, gives them as tensors by name, and releases its room once", () => {
    const k = activeKernels() as Kernels;
    const inUse = k.inUse;
    const before = tf.memory().numTensors;
    const variables = [[2, 3], [5], [1, 1]].map((shape) => tf.tidy(() => tf.variable(tf.zeros(shape))));
    const grads = new GradientsInKernels(k, variables);
    expect(grads.size).toBe(12);
    expect(variables.map((v) => grads.offsetOf(v.name))).toEqual([grads.at, grads.at + 6, grads.at + 11]);
    k.f32.set(
      Array.from({ length: 12 }, (_, i) => i + 0.5),
      grads.at,
    );
    grads.checkAllPlaced();
    const tensors = grads.toTensors();
    expect(Object.keys(tensors)).toEqual(variables.map((v) => v.name));
    expect(tensors[variables[1]!.name]!.shape).toEqual([5]);
    expect(Array.from(tensors[variables[1]!.name]!.dataSync())).toEqual([6.5, 7.5, 8.5, 9.5, 10.5]);
    grads.release();
    grads.release();
    expect(grads.isReleased).toBe(true);
    expect(k.inUse).toBe(inUse);
    expect(() => grads.toTensors()).toThrow(/released/);
    tf.dispose([...variables, ...Object.values(tensors)]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('names a variable whose gradient nobody placed, and a name it has no room for', () => {
    const k = activeKernels() as Kernels;
    const variables = ['placed', 'forgotten'].map((name) => tf.tidy(() => tf.variable(tf.zeros([4]), true, name)));
    const grads = new GradientsInKernels(k, variables);
    grads.offsetOf('placed');
    expect(() => grads.checkAllPlaced()).toThrow(/no gradient was written for forgotten/);
    expect(() => grads.offsetOf('other')).toThrow(/no room for a gradient of other/);
    grads.release();
    tf.dispose(variables);
  });
});
