import * as tf from '@tensorflow/tfjs-core';

/**
 * An optimizer by name, or one the caller built. Who owns it: a loop disposes an optimizer it
 * built from a name before it returns; an optimizer passed in stays the caller's (pass one to
 * keep its state, e.g. to save it in a checkpoint or to continue training).
 */
export type OptimizerSpec = 'sgd' | 'adam' | tf.Optimizer;

/**
 * `sgd` is d2l's plain update (param -= lr * grad, as `d2l.sgd` with batch size 1 on a mean loss);
 * `adam` uses PyTorch's defaults (betas 0.9, 0.999, eps 1e-8).
 */
export function makeOptimizer(spec: OptimizerSpec, lr: number): tf.Optimizer {
  if (typeof spec !== 'string') return spec;
  if (!(lr > 0)) throw new RangeError(`The learning rate must be > 0, got ${lr}.`);
  if (spec === 'sgd') return tf.train.sgd(lr);
  if (spec === 'adam') return tf.train.adam(lr, 0.9, 0.999, 1e-8);
  throw new Error(`Unknown optimizer "${String(spec)}": use "sgd" or "adam".`);
}
