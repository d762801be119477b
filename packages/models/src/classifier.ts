import * as tf from '@tensorflow/tfjs-core';
import { checkOptions, checkPositiveInts, createRng } from '@rnnkit/data';
import type { CellKind } from './cell-kinds.js';
import { Dense, Embedding, RecurrentLayer } from './layers.js';
import { VariableOwner } from '@rnnkit/cells';

export interface SeqClassifierOptions {
  /** Input dictionary size. */
  vocabSize: number;
  embeddingSize: number;
  numHiddens: number;
  /** Classes predicted at every step. */
  numClasses: number;
  /** Default 'rnn' (the hello -> ohlol toy). */
  cell?: CellKind;
  /**
   * How `classify` turns a sequence into one set of logits: 'last', the hidden state at each row's
   * last real step (default); 'mean', the mean of its real steps' hidden states.
   */
  pooling?: SequencePooling;
  seed?: number | string;
}

/** How a many-to-one classifier summarizes a sequence's hidden states. */
export type SequencePooling = 'last' | 'mean';
export const SEQUENCE_POOLINGS: readonly SequencePooling[] = ['last', 'mean'];

/**
 * The hello -> ohlol toy's model (PyTorch): Embedding(vocab, E) -> RNN/GRU/LSTM(E, H) on batch-first input ->
 * Linear(H, classes) on every step (PyTorch `Embedding -> nn.RNN(batch_first=True) -> Linear`): `call`.
 * The same layers classify whole sequences (many-to-one) with `classify`: the head reads one
 * hidden state per padded row, its last real step's or the mean of its real steps'.
 * Variables: `embedding` (vocab, E), `W_ih_l0` (E, G*H), `W_hh_l0`, `b_ih_l0`, `b_hh_l0`,
 * `W_out` (H, classes), `b_out`; `fromTorchNames` maps PyTorch's state dict onto them.
 */
export class SeqClassifier extends VariableOwner {
  readonly embedding: Embedding;
  readonly rnn: RecurrentLayer;
  readonly head: Dense;
  readonly options: Required<Omit<SeqClassifierOptions, 'seed'>> & { seed: number | string };

  constructor(options: SeqClassifierOptions) {
    super();
    checkOptions(options, 'new SeqClassifier({ vocabSize: 4, embeddingSize: 10, numHiddens: 8, numClasses: 4 })');
    const { vocabSize, embeddingSize, numHiddens, numClasses } = options;
    checkPositiveInts({ vocabSize, embeddingSize, numHiddens, numClasses });
    const cell = options.cell ?? 'rnn';
    const pooling = options.pooling ?? 'last';
    if (!SEQUENCE_POOLINGS.includes(pooling)) throw new Error(`Unknown pooling "${String(pooling)}": use ${SEQUENCE_POOLINGS.join(' or ')}.`);
    this.options = { vocabSize, embeddingSize, numHiddens, numClasses, cell, pooling, seed: options.seed ?? 0 };
    const rng = createRng(this.options.seed);
    this.embedding = new Embedding(vocabSize, embeddingSize, rng);
    this.rnn = new RecurrentLayer(cell, embeddingSize, numHiddens, rng);
    this.head = new Dense(numHiddens, numClasses, rng);
  }

  /** X: (batch, steps) int32 ids, zero initial state. Returns logits (batch*steps, classes), row b*steps + t. */
  call(X: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const [B, T] = X.shape;
      const emb = this.embedding.apply(tf.transpose(X)) as tf.Tensor3D; // (T, B, E)
      const { outputs } = this.rnn.apply(emb, this.rnn.beginState(B));
      const batchFirst = tf.reshape(tf.transpose(outputs, [1, 0, 2]), [B * T, this.options.numHiddens]) as tf.Tensor2D;
      return this.head.apply(batchFirst);
    });
  }

  /** Most likely class at every step: (batch, steps) as nested arrays. */
  predict(X: tf.Tensor2D): number[][] {
    const [B, T] = X.shape;
    const best = tf.tidy(() => tf.argMax(this.call(X), 1));
    const ids = best.dataSync();
    best.dispose();
    return Array.from({ length: B }, (_, b) => Array.from(ids.subarray(b * T, (b + 1) * T)));
  }

  /**
   * Many-to-one: X (batch, steps) ids padded on the right, `validLen` the real steps of each row
   * (1..steps). Returns logits (batch, classes) from each row's pooled hidden state; the steps
   * after a row's last real one change nothing.
   */
  classify(X: tf.Tensor2D, validLen: Int32Array): tf.Tensor2D {
    const [B, T] = X.shape;
    if (validLen.length !== B) throw new Error(`classify: ${B} rows but ${validLen.length} valid lengths.`);
    // Each step's weight in the pooled state, time-major (T, B, 1).
    const weights = new Float32Array(T * B);
    validLen.forEach((len, b) => {
      if (!(Number.isInteger(len) && len >= 1 && len <= T)) throw new RangeError(`classify: row ${b} has valid length ${len}, outside 1..${T}.`);
      if (this.options.pooling === 'last') weights[(len - 1) * B + b] = 1;
      else for (let t = 0; t < len; t++) weights[t * B + b] = 1 / len;
    });
    return tf.tidy(() => {
      const emb = this.embedding.apply(tf.transpose(X)) as tf.Tensor3D; // (T, B, E)
      const { outputs } = this.rnn.apply(emb, this.rnn.beginState(B));
      const pooled = tf.sum(tf.mul(outputs, tf.tensor3d(weights, [T, B, 1])), 0) as tf.Tensor2D;
      return this.head.apply(pooled);
    });
  }

  /** Class probabilities of each row (softmax of `classify`), (batch, classes) as nested arrays. */
  predictProbabilities(X: tf.Tensor2D, validLen: Int32Array): number[][] {
    const p = tf.tidy(() => tf.softmax(this.classify(X, validLen)));
    const rows = p.arraySync() as number[][];
    p.dispose();
    return rows;
  }

  namedVariables(): Record<string, tf.Variable> {
    return { embedding: this.embedding.weight, ...this.rnn.namedVariables(), W_out: this.head.W, b_out: this.head.b };
  }
}
