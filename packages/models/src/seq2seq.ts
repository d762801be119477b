import * as tf from '@tensorflow/tfjs-core';
import { checkPositiveInts, createRng } from '@rnnkit/data';
import type { CellKind } from './fused/kinds.js';
import { Dense, Embedding, RecurrentStack } from './layers.js';
import { VariableOwner } from '@rnnkit/cells';

export interface EncoderDecoderOptions {
  srcVocabSize: number;
  tgtVocabSize: number;
  embedSize: number;
  numHiddens: number;
  /** Default 2 (d2l). */
  numLayers?: number;
  /** Default 'gru' (d2l). */
  cell?: CellKind;
  seed?: number | string;
}

/** What the encoder hands the decoder: the context vector and the recurrent state of every layer. */
export interface DecoderState {
  /** The encoder's top-layer output at its last step, (batch, hidden); fixed while decoding. */
  context: tf.Tensor2D;
  /** Per layer, [h] (or [h, c] for the LSTM). */
  hidden: tf.Tensor2D[][];
}

/**
 * d2l's `Seq2SeqEncoder` + `Seq2SeqDecoder` (+ `EncoderDecoder`): embedding -> stacked GRU encoder;
 * the decoder embeds its input, appends the encoder's context to every step, runs its own stacked
 * GRU from the encoder's final state and projects to the target vocabulary. As in d2l's current
 * edition the context is the encoder's last output, kept fixed during greedy decoding. Source
 * sequences are expected left-padded (padding first), so the encoder's last step is a real token.
 */
export class EncoderDecoder extends VariableOwner {
  readonly srcEmbedding: Embedding;
  readonly encoder: RecurrentStack;
  readonly tgtEmbedding: Embedding;
  readonly decoder: RecurrentStack;
  readonly head: Dense;
  readonly numHiddens: number;

  constructor(options: EncoderDecoderOptions) {
    super();
    const { srcVocabSize, tgtVocabSize, embedSize, numHiddens } = options;
    const numLayers = options.numLayers ?? 2;
    checkPositiveInts({ srcVocabSize, tgtVocabSize, embedSize, numHiddens, numLayers });
    const cell = options.cell ?? 'gru';
    const rng = createRng(options.seed ?? 0);
    this.numHiddens = numHiddens;
    this.srcEmbedding = new Embedding(srcVocabSize, embedSize, rng);
    this.encoder = new RecurrentStack(cell, embedSize, numHiddens, numLayers, rng);
    this.tgtEmbedding = new Embedding(tgtVocabSize, embedSize, rng);
    this.decoder = new RecurrentStack(cell, embedSize + numHiddens, numHiddens, numLayers, rng);
    this.head = new Dense(numHiddens, tgtVocabSize, rng);
  }

  /** src: (batch, steps) int32. */
  encode(src: tf.Tensor2D): DecoderState {
    return tf.tidy(() => {
      const emb = this.srcEmbedding.apply(tf.transpose(src)) as tf.Tensor3D;
      const { outputs, state } = this.encoder.apply(emb, this.encoder.beginState(src.shape[0]));
      const T = outputs.shape[0];
      const context = tf.reshape(tf.slice(outputs, [T - 1, 0, 0], [1, -1, -1]), [src.shape[0], this.numHiddens]) as tf.Tensor2D;
      return { context, hidden: state };
    });
  }

  /** tgtIn: (batch, steps) int32 (teacher forcing: <bos> then the target shifted right). Logits (batch*steps, vocab), row b*steps + t. */
  decode(tgtIn: tf.Tensor2D, state: DecoderState): { logits: tf.Tensor2D; state: DecoderState } {
    return tf.tidy(() => {
      const [B, T] = tgtIn.shape;
      const emb = this.tgtEmbedding.apply(tf.transpose(tgtIn)) as tf.Tensor3D; // (T, B, E)
      const context = tf.broadcastTo(tf.expandDims(state.context, 0), [T, B, this.numHiddens]);
      const { outputs, state: hidden } = this.decoder.apply(tf.concat([emb, context], 2) as tf.Tensor3D, state.hidden);
      const batchFirst = tf.reshape(tf.transpose(outputs, [1, 0, 2]), [B * T, this.numHiddens]) as tf.Tensor2D;
      return { logits: this.head.apply(batchFirst), state: { context: state.context, hidden } };
    });
  }

  /** Training forward pass: logits (batch*tgtSteps, vocab). */
  call(src: tf.Tensor2D, tgtIn: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => this.decode(tgtIn, this.encode(src)).logits);
  }

  /**
   * d2l `predict_seq2seq`, batched: greedy decoding from `<bos>` until `<eos>` or `maxLength`
   * tokens. Returns each row's tokens without `<eos>`.
   */
  greedyDecode(src: tf.Tensor2D, bos: number, eos: number, maxLength: number): number[][] {
    const B = src.shape[0];
    const out: number[][] = Array.from({ length: B }, () => []);
    const done = new Array<boolean>(B).fill(false);
    let state = this.encode(src);
    let input = tf.fill([B, 1], bos, 'int32') as tf.Tensor2D;
    for (let t = 0; t < maxLength && done.includes(false); t++) {
      const step = this.decode(input, state);
      const next = tf.tidy(() => tf.cast(tf.argMax(step.logits, 1), 'int32'));
      const ids = next.dataSync();
      ids.forEach((id, b) => {
        if (done[b]) return;
        if (id === eos) done[b] = true;
        else out[b]!.push(id);
      });
      tf.dispose([input, step.logits, state.hidden]);
      state = { context: state.context, hidden: step.state.hidden };
      input = tf.reshape(next, [B, 1]) as tf.Tensor2D;
      next.dispose();
    }
    tf.dispose([input, state.context, state.hidden]);
    return out;
  }

  namedVariables(): Record<string, tf.Variable> {
    const prefixed = (prefix: string, vars: Record<string, tf.Variable>) => Object.fromEntries(Object.entries(vars).map(([k, v]) => [`${prefix}.${k}`, v]));
    return {
      'encoder.embedding': this.srcEmbedding.weight,
      ...prefixed('encoder', this.encoder.namedVariables()),
      'decoder.embedding': this.tgtEmbedding.weight,
      ...prefixed('decoder', this.decoder.namedVariables()),
      'decoder.W_out': this.head.W,
      'decoder.b_out': this.head.b,
    };
  }
}
