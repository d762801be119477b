import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '@rnnkit/data';
import { variableOf } from '@rnnkit/cells';

/** PyTorch's default for recurrent and linear layers: uniform(-bound, bound), bound = 1/sqrt(fan). */
export function uniformVariable(shape: number[], bound: number, rng: Rng): tf.Variable {
  const size = shape.reduce((a, b) => a * b, 1);
  const v = new Float32Array(size);
  for (let i = 0; i < size; i++) v[i] = (rng.next() * 2 - 1) * bound;
  return variableOf(tf.tensor(v, shape, 'float32'));
}
