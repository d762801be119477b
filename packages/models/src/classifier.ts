import * as tf from '@tensorflow/tfjs-core';
import { checkOptions, checkPositiveInts, createRng } from '@rnnkit/data';
import type { CellKind } from './fused/kinds.js';
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
  seed?: number | string;
}

/**
 * The hello -> ohlol toy's model (PyTorch): Embedding(vocab, E) -> RNN/GRU/LSTM(E, H) on batch-first input ->
 * Linear(H, classes) on every step (PyTorch `Embedding -> nn.RNN(batch_first=True) -> Linear`).
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
    this.options = { vocabSize, embeddingSize, numHiddens, numClasses, cell, seed: options.seed ?? 0 };
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

  namedVariables(): Record<string, tf.Variable> {
    return { embedding: this.embedding.weight, ...this.rnn.namedVariables(), W_out: this.head.W, b_out: this.head.b };
  }
}
