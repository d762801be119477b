import * as tf from '@tensorflow/tfjs-core';
import { D2L_TEXT_ENCODING, encodePrefix, joinTokens, type EncodedPrefix, type Rng, type TextEncoding, type Vocab } from '@rnnkit/data';
import type { RecurrentLanguageModel, State } from '@rnnkit/cells';
import { yieldToEventLoop } from './yield.js';

export interface PredictOptions {
  /** Greedy argmax (d2l, default) or sampling from the softmax. */
  mode?: 'greedy' | 'sample';
  /** Sampling temperature; lower is closer to greedy. Default 1. */
  temperature?: number;
  /** Sample only among the k most likely tokens. Default: all. */
  topK?: number;
  /** Generator for sampling (seeded for repeatable text). */
  rng?: Rng;
  /**
   * How the model's training text became tokens (a checkpoint's `text`, a corpus' `encoding`):
   * the prefix goes through the same preprocessing and tokenization (`encodePrefix` of
   * `@rnnkit/data`), and words come back joined with spaces. Default d2l's: a-z lower-cased,
   * characters, lines joined with nothing.
   */
  text?: TextEncoding;
}

export interface Prediction {
  /** The prefix (as the model saw it) followed by the generated tokens. */
  text: string;
  /** The generated tokens. */
  tokens: string[];
  /** The prefix as the model saw it: preprocessed as the training text was. */
  prefix: string;
  /** Prefix tokens that are not in the vocabulary (fed as `<unk>`). */
  unknownTokens: string[];
}

type Mode = 'greedy' | 'sample';

/** The checks `predict` and `generate` share; the prefix as ids. */
function prepare(model: RecurrentLanguageModel, vocab: Vocab, prefix: string, options: PredictOptions, what: string): { encoded: EncodedPrefix; mode: Mode } {
  if (typeof prefix !== 'string') throw new TypeError(`${what}: prefix must be a string, got ${prefix === null ? 'null' : typeof prefix}.`);
  // (A duck-typed vocabulary without `size` skips the check.)
  if (typeof vocab.size === 'number' && model.vocabSize !== vocab.size) {
    throw new RangeError(
      `${what}: the model's vocabSize (${model.vocabSize}) differs from the vocabulary's size (${vocab.size}): use the vocabulary the model was trained with.`,
    );
  }
  const encoded = encodePrefix(prefix, vocab, options.text ?? D2L_TEXT_ENCODING);
  if (encoded.ids.length === 0) {
    throw new Error(
      prefix === ''
        ? 'The prefix is empty: give at least one token to start from.'
        : `The prefix ${JSON.stringify(prefix)} has no tokens left after preprocessing: give one with letters.`,
    );
  }
  const mode = options.mode ?? 'greedy';
  if (mode !== 'greedy' && mode !== 'sample') throw new RangeError(`${what}: unknown mode ${JSON.stringify(mode)}: use "greedy" or "sample".`);
  if (mode === 'sample' && !options.rng) throw new Error('Sampling needs a seeded generator: pass { rng: createRng(seed) }.');
  return { encoded, mode };
}

/** One call of the model on `ids` (batch 1): the last step's logits and the state after it, both kept. */
function modelStep(model: RecurrentLanguageModel, ids: readonly number[], state: State): { logits: tf.Tensor; next: State } {
  return tf.tidy(() => {
    const out = model.call(tf.tensor2d(ids as number[], [1, ids.length], 'int32'), state);
    return { logits: tf.slice(out.logits, [out.logits.shape[0] - 1, 0], [1, -1]), next: out.state };
  });
}

/**
 * Feeds the prefix but its last token. A unidirectional model takes it in one call, the same state
 * as step by step; a bidirectional one runs its backward direction over each call's tokens, so it
 * is fed one token at a time, as d2l's predict_ch8 does.
 */
function warmUp(model: RecurrentLanguageModel, ids: readonly number[], step: (ids: number[]) => unknown): void {
  if (isBidirectional(model)) for (const id of ids.slice(0, -1)) step([id]);
  else if (ids.length > 1) step(ids.slice(0, -1));
}

const isBidirectional = (model: RecurrentLanguageModel): boolean => (model as { numDirections?: number }).numDirections === 2;

const choose = (logits: Float32Array, mode: Mode, options: PredictOptions): number => (mode === 'greedy' ? argmax(logits) : sampleLogits(logits, options));

/**
 * d2l `predict_ch8`: warm the state up on the prefix, then generate `numPreds` tokens, each fed
 * back as the next input. Greedy by default; sampling with temperature and top-k on request.
 * The prefix is encoded as the training text was (`options.text`).
 */
export function predict(model: RecurrentLanguageModel, vocab: Vocab, prefix: string, numPreds: number, options: PredictOptions = {}): Prediction {
  const { encoded, mode } = prepare(model, vocab, prefix, options, 'predict');
  if (!Number.isInteger(numPreds) || numPreds < 0) throw new RangeError(`numPreds must be a whole number >= 0, got ${numPreds}.`);
  const outputs = [...encoded.ids];
  let state: State = model.beginState(1);
  const step = (ids: number[]): Float32Array => {
    const { logits, next } = modelStep(model, ids, state);
    tf.dispose(state);
    state = next;
    const values = logits.dataSync() as Float32Array;
    logits.dispose();
    return values;
  };
  try {
    warmUp(model, outputs, step);
    for (let i = 0; i < numPreds; i++) outputs.push(choose(step([outputs[outputs.length - 1] as number]), mode, options));
  } finally {
    tf.dispose(state);
  }
  const tokens = vocab.tokensOf(outputs.slice(encoded.ids.length));
  const encoding = options.text ?? D2L_TEXT_ENCODING;
  return { text: joinTokens([...encoded.tokens, ...tokens], encoding), tokens, prefix: encoded.text, unknownTokens: encoded.unknownTokens };
}

export interface GenerateOptions extends PredictOptions {
  /** Tokens after which the stream ends (more can still be asked for with `take`). Default: no end. */
  length?: number;
}

/**
 * A stream of generated tokens that keeps its place: `for await` over it gives the next tokens,
 * and leaving the loop (`break`) keeps the recurrent state, so a later loop (or `take`) goes on
 * from there. It holds no tensors between tokens (the state is copied out as numbers), so
 * nothing needs disposing and the model can be used for other work in between.
 */
export interface TokenStream extends AsyncIterable<string> {
  /** The prefix as the model saw it (see `predict`), and its tokens outside the vocabulary. */
  readonly prefix: string;
  readonly unknownTokens: readonly string[];
  /** The tokens generated so far. */
  readonly tokens: readonly string[];
  /** The prefix and the tokens so far, joined as the model's text is (`Prediction.text`). */
  readonly text: string;
  /** The next token. */
  next(): Promise<string>;
  /** The next `n` tokens, one at a time. */
  take(n: number): AsyncIterable<string>;
}

/** A state copied out of tensors, to rebuild between steps. */
type SavedState = { values: Float32Array; shape: number[] }[];

/**
 * Streaming generation: `predict`'s tokens one at a time, as an async iterator that carries its
 * state, so a caller can show each token as it comes, stop at any time and go on later. Reads
 * each step's results asynchronously and lets the event loop run every 10 ms or so, so a page or
 * a worker stays responsive (a Stop message gets through). The same options,
 * prefix encoding and tokens as `predict` (greedy, or sampling with a seeded `rng`).
 *
 * ```ts
 * const stream = generate(model, vocab, 'time traveller', { text: loaded.text });
 * for await (const token of stream.take(50)) process.stdout.write(token);
 * ```
 */
export function generate(model: RecurrentLanguageModel, vocab: Vocab, prefix: string, options: GenerateOptions = {}): TokenStream {
  const { encoded, mode } = prepare(model, vocab, prefix, options, 'generate');
  const limit = options.length ?? Number.POSITIVE_INFINITY;
  if (!(limit >= 0) || (Number.isFinite(limit) && !Number.isInteger(limit))) throw new RangeError(`length must be a whole number >= 0, got ${options.length}.`);
  const encoding = options.text ?? D2L_TEXT_ENCODING;
  const tokens: string[] = [];
  let last = encoded.ids[encoded.ids.length - 1] as number;
  let saved: SavedState | null = null;
  let queue: Promise<unknown> = Promise.resolve();

  const step = async (ids: number[]): Promise<Float32Array> => {
    const state: State = saved ? saved.map((s) => tf.tensor2d(s.values, s.shape as [number, number])) : model.beginState(1);
    let out: { logits: tf.Tensor; next: State };
    try {
      out = modelStep(model, ids, state);
    } finally {
      tf.dispose(state);
    }
    try {
      const [logits, ...values] = (await Promise.all([out.logits.data(), ...out.next.map((s) => s.data())])) as Float32Array[];
      saved = out.next.map((s, i) => ({ values: values[i] as Float32Array, shape: s.shape }));
      return logits as Float32Array;
    } finally {
      tf.dispose([out.logits, ...out.next]);
    }
  };
  let yielded = performance.now();
  const nextToken = async (): Promise<string> => {
    // A backend on the CPU (wasm, cpu) reads results at once, in microtasks: let the event loop
    // run now and then, so a worker sees its messages (a Stop) and a page its clicks.
    if (performance.now() - yielded > 10) {
      await yieldToEventLoop();
      yielded = performance.now();
    }
    if (saved === null) {
      // As warmUp: a bidirectional model one token at a time.
      if (isBidirectional(model)) for (const id of encoded.ids.slice(0, -1)) await step([id]);
      else if (encoded.ids.length > 1) await step(encoded.ids.slice(0, -1));
    }
    last = choose(await step([last]), mode, options);
    const token = vocab.tokenOf(last);
    tokens.push(token);
    return token;
  };
  // One step at a time, whoever asks.
  const next = (): Promise<string> => {
    const result = queue.then(nextToken);
    queue = result.catch(() => undefined);
    return result;
  };
  const take = (n: number): AsyncIterable<string> => {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`take: n must be a whole number >= 0, got ${n}.`);
    return {
      [Symbol.asyncIterator]() {
        let given = 0;
        return {
          async next() {
            if (given >= n) return { done: true, value: undefined };
            given++;
            return { done: false, value: await next() };
          },
        };
      },
    };
  };
  return {
    prefix: encoded.text,
    unknownTokens: encoded.unknownTokens,
    tokens,
    get text() {
      return joinTokens([...encoded.tokens, ...tokens], encoding);
    },
    next,
    take,
    [Symbol.asyncIterator]() {
      const left = Math.max(0, limit - tokens.length);
      return take(Number.isFinite(left) ? left : Number.MAX_SAFE_INTEGER)[Symbol.asyncIterator]();
    },
  };
}

export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if ((values[i] as number) > (values[best] as number)) best = i;
  return best;
}

/** Draws an index from softmax(logits / temperature), restricted to the top k. */
export function sampleLogits(logits: ArrayLike<number>, options: Pick<PredictOptions, 'temperature' | 'topK' | 'rng'>): number {
  const temperature = options.temperature ?? 1;
  if (!(temperature > 0)) throw new RangeError(`temperature must be > 0, got ${temperature}.`);
  const rng = options.rng;
  if (!rng) throw new Error('Sampling needs a seeded generator: pass { rng: createRng(seed) }.');
  const order = Array.from({ length: logits.length }, (_, i) => i).sort((a, b) => (logits[b] as number) - (logits[a] as number));
  const k = options.topK === undefined ? order.length : options.topK;
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`topK must be a whole number >= 1, got ${options.topK}.`);
  const kept = order.slice(0, Math.min(k, order.length));
  const max = logits[kept[0] as number] as number;
  const weights = kept.map((i) => Math.exp(((logits[i] as number) - max) / temperature));
  const total = weights.reduce((a, b) => a + b, 0);
  let u = rng.next() * total;
  for (let j = 0; j < kept.length; j++) {
    u -= weights[j] as number;
    if (u < 0) return kept[j] as number;
  }
  return kept[kept.length - 1] as number;
}
