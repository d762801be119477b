import * as tf from '@tensorflow/tfjs-core';
import type { Rng } from '@rnnkit/data';

/** Named trainable parameters, in d2l's order. */
export type Params = Record<string, tf.Variable>;

/** A recurrent state: [H] for RNN and GRU, [H, C] for LSTM (d2l's state tuple). */
export type State = tf.Tensor2D[];

/** Owns named variables: lists them for training and frees them. */
export abstract class VariableOwner {
  abstract namedVariables(): Record<string, tf.Variable>;

  get trainableVariables(): tf.Variable[] {
    return Object.values(this.namedVariables());
  }

  dispose(): void {
    for (const v of this.trainableVariables) v.dispose();
  }
}

/** A variable holding `t`'s values; `t` itself is disposed (tf.variable would keep it alive as a second tensor). */
export function variableOf(t: tf.Tensor): tf.Variable {
  const v = tf.variable(t);
  t.dispose();
  return v;
}

/** A weight drawn from N(0, std^2) with a seeded generator (d2l `normal`: std 0.01). */
export function normalVariable(shape: number[], rng: Rng, std = 0.01): tf.Variable {
  const size = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) values[i] = rng.normal(0, std);
  return variableOf(tf.tensor(values, shape, 'float32'));
}

export function zerosVariable(shape: number[]): tf.Variable {
  return variableOf(tf.zeros(shape, 'float32'));
}

/** Reads a named parameter, with an error that names what is missing. */
export function param(params: Record<string, tf.Tensor>, name: string): tf.Tensor {
  const p = params[name];
  if (!p) throw new Error(`Parameter ${name} is missing: expected ${Object.keys(params).join(', ') || 'none'} to include it.`);
  return p;
}

/** Zero hidden states of (batch, hidden), `count` of them. */
export function zeroState(batchSize: number, numHiddens: number, count: number): State {
  return Array.from({ length: count }, () => tf.zeros([batchSize, numHiddens], 'float32') as tf.Tensor2D);
}

/**
 * d2l's gated parameter set: for each gate g, W_xg (vocab, hidden), W_hg (hidden, hidden), b_g,
 * drawn in that order, then the output layer W_hq, b_q.
 */
export function gatedParams(gates: readonly string[], vocabSize: number, numHiddens: number, rng: Rng): Params {
  const params: Params = {};
  for (const g of gates) {
    params[`W_x${g}`] = normalVariable([vocabSize, numHiddens], rng);
    params[`W_h${g}`] = normalVariable([numHiddens, numHiddens], rng);
    params[`b_${g}`] = zerosVariable([numHiddens]);
  }
  params.W_hq = normalVariable([numHiddens, vocabSize], rng);
  params.b_q = zerosVariable([vocabSize]);
  return params;
}
