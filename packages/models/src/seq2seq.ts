import * as tf from '@tensorflow/tfjs-core';
import { checkOptions, checkPositiveInts, createRng, timeMajor, type Rng } from '@rnnkit/data';
import type { CellKind } from './cell-kinds.js';
import { denseCrossEntropy } from './fused/dense-cross-entropy.js';
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
  /** Dropout between stacked recurrent layers, in encoder and decoder (d2l: 0.1). Training only. Default 0. */
  dropout?: number;
  /**
   * 'pytorch' (default): PyTorch's layer defaults. 'xavier': d2l `train_seq2seq`'s
   * `xavier_init_weights`, Xavier-uniform recurrent and output weights (embeddings and biases keep the default).
   */
  init?: 'pytorch' | 'xavier';
  /** Seeds the weights and the dropout masks. */
  seed?: number | string;
}

/** Beam search settings (d2l 9.8). */
export interface BeamSearchOptions {
  /** Hypotheses kept per step, k. 1 is greedy search. */
  beamSize: number;
  /** Length penalty exponent: candidates are ranked by logProb / L^alpha. Default 0.75 (d2l). */
  alpha?: number;
  /**
   * Which hypotheses compete at the end.
   * - `'finished'` (default, rnnkit's rule): a hypothesis that emits `<eos>` (or reaches
   *   maxLength tokens) leaves the beam finished; only finished ones compete, `<eos>`'s
   *   log-probability counted in logProb and `<eos>` in L.
   * - `'prefixes'` (d2l 9.8's wording): `<eos>` is a token like any other during the search;
   *   every hypothesis kept at every step competes, cut before its first `<eos>` (whose
   *   probability is not counted), L its length after the cut.
   *
   * rnnkit's rule deviates from the book's wording: on d2l 9.7's English-French model it does
   * better held-out, and a short prefix of a long hypothesis cannot win without the model having
   * ended the sentence there.
   */
  candidates?: 'finished' | 'prefixes';
}

/** The winning beam-search candidate. */
export interface BeamHypothesis {
  /** Output ids without `<eos>`. */
  tokens: number[];
  /** Sum of the log-probabilities of its tokens: with `<eos>` for a finished candidate, without for a d2l prefix. */
  logProb: number;
  /** logProb / L^alpha, L its length (with `<eos>` when a finished candidate ended with one); -Infinity for an empty prefix. */
  score: number;
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
 * edition the context is the encoder's last output, kept fixed during decoding. d2l pads sources
 * on the right, so its encoder also reads the padding; left padding (the toy's) ends on a real token.
 */
export class EncoderDecoder extends VariableOwner {
  readonly srcEmbedding: Embedding;
  readonly encoder: RecurrentStack;
  readonly tgtEmbedding: Embedding;
  readonly decoder: RecurrentStack;
  readonly head: Dense;
  readonly numHiddens: number;
  private readonly dropoutRng: Rng;

  constructor(options: EncoderDecoderOptions) {
    super();
    checkOptions(options, 'new EncoderDecoder({ srcVocabSize, tgtVocabSize, embedSize, numHiddens })');
    const { srcVocabSize, tgtVocabSize, embedSize, numHiddens } = options;
    const numLayers = options.numLayers ?? 2;
    checkPositiveInts({ srcVocabSize, tgtVocabSize, embedSize, numHiddens, numLayers });
    const cell = options.cell ?? 'gru';
    const rng = createRng(options.seed ?? 0);
    this.dropoutRng = createRng(`${options.seed ?? 0}-dropout`);
    this.numHiddens = numHiddens;
    this.srcEmbedding = new Embedding(srcVocabSize, embedSize, rng);
    this.encoder = new RecurrentStack(cell, embedSize, numHiddens, numLayers, rng, options.dropout ?? 0);
    this.tgtEmbedding = new Embedding(tgtVocabSize, embedSize, rng);
    this.decoder = new RecurrentStack(cell, embedSize + numHiddens, numHiddens, numLayers, rng, options.dropout ?? 0);
    this.head = new Dense(numHiddens, tgtVocabSize, rng);
    if (options.init === 'xavier') {
      const weights = [...[...this.encoder.layers, ...this.decoder.layers].flatMap((l) => [l.W_ih, l.W_hh]), this.head.W];
      for (const w of weights) {
        const value = xavierUniform(w.shape as [number, number], rng);
        w.assign(value);
        value.dispose();
      }
    } else if (options.init !== undefined && options.init !== 'pytorch') {
      throw new Error(`Unknown init "${String(options.init)}": use 'pytorch' or 'xavier'.`);
    }
  }

  /** src: (batch, steps) int32. `training` turns dropout on. */
  encode(src: tf.Tensor2D, training = false): DecoderState {
    return tf.tidy(() => {
      const emb = this.srcEmbedding.apply(tf.transpose(src)) as tf.Tensor3D;
      const { outputs, state } = this.encoder.apply(emb, this.encoder.beginState(src.shape[0]), this.mode(training));
      const T = outputs.shape[0];
      const context = tf.reshape(tf.slice(outputs, [T - 1, 0, 0], [1, -1, -1]), [src.shape[0], this.numHiddens]) as tf.Tensor2D;
      return { context, hidden: state };
    });
  }

  /** tgtIn: (batch, steps) int32 (teacher forcing: <bos> then the target shifted right). Logits (batch*steps, vocab), row b*steps + t. */
  decode(tgtIn: tf.Tensor2D, state: DecoderState, training = false): { logits: tf.Tensor2D; state: DecoderState } {
    return tf.tidy(() => {
      const [B, T] = tgtIn.shape;
      const { outputs, state: next } = this.decoderOutputs(tgtIn, state, training);
      const batchFirst = tf.reshape(tf.transpose(outputs, [1, 0, 2]), [B * T, this.numHiddens]) as tf.Tensor2D;
      return { logits: this.head.apply(batchFirst), state: { context: next.context, hidden: next.hidden } };
    });
  }

  /** The decoder's top-layer outputs (steps, batch, hidden), time-major, before the head. */
  private decoderOutputs(tgtIn: tf.Tensor2D, state: DecoderState, training: boolean): { outputs: tf.Tensor3D; state: DecoderState } {
    const [B, T] = tgtIn.shape;
    const emb = this.tgtEmbedding.apply(tf.transpose(tgtIn)) as tf.Tensor3D; // (T, B, E)
    const context = tf.broadcastTo(tf.expandDims(state.context, 0), [T, B, this.numHiddens]);
    const { outputs, state: hidden } = this.decoder.apply(tf.concat([emb, context], 2) as tf.Tensor3D, state.hidden, this.mode(training));
    return { outputs, state: { context: state.context, hidden } };
  }

  /**
   * The teacher-forced loss: the softmax cross-entropy of `labels` (batch*tgtSteps, batch-major,
   * as `call`'s logits' rows), each token's weighted by `weights` and summed (a padding mask over
   * `num_steps` is d2l's `MaskedSoftmaxCELoss(...).sum()`), with the head and the loss one op
   * (`denseCrossEntropy`: on rnnkit's kernels the logits never become tensors). `training` turns
   * dropout on.
   */
  loss(src: tf.Tensor2D, tgtIn: tf.Tensor2D, labels: Int32Array, weights: Float32Array, options: { training?: boolean } = {}): tf.Scalar {
    const [B, T] = tgtIn.shape;
    if (labels.length !== B * T || weights.length !== B * T) {
      throw new Error(`EncoderDecoder.loss: ${B} x ${T} target steps but ${labels.length} labels and ${weights.length} weights.`);
    }
    const training = options.training ?? false;
    // The decoder's outputs are time-major: the labels and weights follow them, so no transpose.
    const tm = timeMajor(labels, T);
    const wm = timeMajor(weights, T);
    return tf.tidy(() => {
      const { outputs } = this.decoderOutputs(tgtIn, this.encode(src, training), training);
      const x = tf.reshape(outputs, [T * B, this.numHiddens]) as tf.Tensor2D;
      return denseCrossEntropy(x, this.head.W as tf.Tensor2D, this.head.b as tf.Tensor1D, tm, wm);
    });
  }

  private mode(training: boolean): { rng: Rng } | undefined {
    return training ? { rng: this.dropoutRng } : undefined;
  }

  /** Teacher-forced forward pass: logits (batch*tgtSteps, vocab). `training` turns dropout on. */
  call(src: tf.Tensor2D, tgtIn: tf.Tensor2D, options: { training?: boolean } = {}): tf.Tensor2D {
    const training = options.training ?? false;
    return tf.tidy(() => this.decode(tgtIn, this.encode(src, training), training).logits);
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

  /**
   * d2l 9.8 beam search for each source row: from `<bos>`, every step extends each live
   * hypothesis by every token and keeps the `beamSize` best by summed log-probability. With
   * `candidates: 'finished'` (the default) those ending in `<eos>` (or reaching `maxLength`
   * tokens) are finished, and the finished candidate with the best logProb / L^alpha wins; beam
   * size 1 is then greedy search (`greedyDecode`). With `'prefixes'`, every kept hypothesis of
   * every step competes, cut before its first `<eos>` (see `BeamSearchOptions.candidates`).
   */
  beamSearch(src: tf.Tensor2D, bos: number, eos: number, maxLength: number, options: BeamSearchOptions): BeamHypothesis[] {
    const { beamSize } = options;
    const alpha = options.alpha ?? 0.75;
    const candidates = options.candidates ?? 'finished';
    checkPositiveInts({ beamSize, maxLength });
    if (candidates !== 'finished' && candidates !== 'prefixes')
      throw new Error(`beamSearch: candidates is ${JSON.stringify(candidates)}: use 'finished' (rnnkit's rule) or 'prefixes' (d2l 9.8's wording).`);
    const prefixes = candidates === 'prefixes';
    const [B, S] = src.shape;
    const best: BeamHypothesis[] = [];
    for (let b = 0; b < B; b++) {
      const row = tf.slice(src, [b, 0], [1, S]);
      const encoded = this.encode(row);
      row.dispose();
      const finished: BeamHypothesis[] = [];
      const finish = (tokens: number[], logProb: number, length: number) =>
        finished.push({ tokens, logProb, score: length > 0 ? logProb / Math.pow(length, alpha) : Number.NEGATIVE_INFINITY });
      // `cut`/`cutLogProb`: the hypothesis before its first <eos> (for d2l's prefixes); `ended` once it emitted <eos>.
      type Live = { tokens: number[]; logProb: number; cut: number[]; cutLogProb: number; ended: boolean };
      let live: Live[] = [{ tokens: [], logProb: 0, cut: [], cutLogProb: 0, ended: false }];
      let last = [bos];
      let hidden = encoded.hidden;
      for (let t = 0; t < maxLength && live.length > 0; t++) {
        const n = live.length;
        const input = tf.tensor2d(last, [n, 1], 'int32');
        const context = tf.tile(encoded.context, [n, 1]) as tf.Tensor2D;
        const step = this.decode(input, { context, hidden });
        const logProbs = tf.tidy(() => tf.logSoftmax(step.logits));
        const lp = logProbs.dataSync();
        tf.dispose([input, context, step.logits, logProbs]);
        const V = lp.length / n;
        // The beamSize best extensions; ties keep the lower (hypothesis, token) index, as argMax does.
        const order = Array.from({ length: n * V }, (_, i) => i);
        const scoreOf = (i: number) => live[Math.floor(i / V)]!.logProb + lp[i]!;
        order.sort((i, j) => scoreOf(j) - scoreOf(i) || i - j);
        const kept: Live[] = [];
        const parents: number[] = [];
        for (const i of order.slice(0, beamSize)) {
          const parent = Math.floor(i / V);
          const token = i % V;
          const logProb = scoreOf(i);
          const h = live[parent]!;
          const tokens = h.tokens;
          if (prefixes) {
            const ended = h.ended || token === eos;
            const cut = ended ? h.cut : [...h.cut, token];
            const cutLogProb = ended ? h.cutLogProb : h.cutLogProb + lp[i]!;
            finish(cut, cutLogProb, cut.length);
            kept.push({ tokens: [...tokens, token], logProb, cut, cutLogProb, ended });
            parents.push(parent);
          } else if (token === eos) finish(tokens, logProb, tokens.length + 1);
          else if (t === maxLength - 1) finish([...tokens, token], logProb, tokens.length + 1);
          else {
            kept.push({ tokens: [...tokens, token], logProb, cut: [], cutLogProb: 0, ended: false });
            parents.push(parent);
          }
        }
        const next = parents.length > 0 ? tf.tidy(() => step.state.hidden.map((layer) => layer.map((h) => tf.gather(h, parents) as tf.Tensor2D))) : [];
        tf.dispose([hidden, step.state.hidden]);
        hidden = next;
        live = kept;
        last = kept.map((h) => h.tokens[h.tokens.length - 1]!);
      }
      tf.dispose([hidden, encoded.context]);
      best.push(finished.reduce((a, h) => (h.score > a.score ? h : a)));
    }
    return best;
  }

  /** `beamSearch`'s tokens for each source row. */
  beamDecode(src: tf.Tensor2D, bos: number, eos: number, maxLength: number, options: BeamSearchOptions): number[][] {
    return this.beamSearch(src, bos, eos, maxLength, options).map((h) => h.tokens);
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

/** Xavier (Glorot) uniform weights, as PyTorch's `xavier_uniform_`: bound sqrt(6 / (fan_in + fan_out)). */
function xavierUniform([fanIn, fanOut]: [number, number], rng: Rng): tf.Tensor {
  const bound = Math.sqrt(6 / (fanIn + fanOut));
  const values = new Float32Array(fanIn * fanOut);
  for (let i = 0; i < values.length; i++) values[i] = (rng.next() * 2 - 1) * bound;
  return tf.tensor(values, [fanIn, fanOut], 'float32');
}
