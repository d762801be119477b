import * as tf from '@tensorflow/tfjs-core';
import type { Rng, Vocab } from '@rnnkit/data';
import type { RecurrentLanguageModel, State } from '@rnnkit/cells';

export interface PredictOptions {
  /** Greedy argmax (d2l, default) or sampling from the softmax. */
  mode?: 'greedy' | 'sample';
  /** Sampling temperature; lower is closer to greedy. Default 1. */
  temperature?: number;
  /** Sample only among the k most likely tokens. Default: all. */
  topK?: number;
  /** Generator for sampling (seeded for repeatable text). */
  rng?: Rng;
  /** Split the prefix into tokens. Default: characters. */
  tokenize?: (prefix: string) => string[];
  /** Join generated tokens. Default: no separator. */
  separator?: string;
}

export interface Prediction {
  /** The prefix followed by the generated tokens. */
  text: string;
  /** Prefix tokens that are not in the vocabulary (fed as `<unk>`). */
  unknownTokens: string[];
}

/**
 * d2l `predict_ch8`: warm the state up on the prefix, then generate `numPreds` tokens, each fed
 * back as the next input. Greedy by default; sampling with temperature and top-k on request.
 */
export function predict(model: RecurrentLanguageModel, vocab: Vocab, prefix: string, numPreds: number, options: PredictOptions = {}): Prediction {
  if (typeof prefix !== 'string') throw new TypeError(`predict: prefix must be a string, got ${prefix === null ? 'null' : typeof prefix}.`);
  // (A duck-typed vocabulary without `size` skips the check.)
  if (typeof vocab.size === 'number' && model.vocabSize !== vocab.size) {
    throw new RangeError(
      `predict: the model's vocabSize (${model.vocabSize}) differs from the vocabulary's size (${vocab.size}): use the vocabulary the model was trained with.`,
    );
  }
  const tokens = (options.tokenize ?? ((s: string) => Array.from(s)))(prefix);
  if (tokens.length === 0) throw new Error('The prefix is empty: give at least one token to start from.');
  if (!Number.isInteger(numPreds) || numPreds < 0) throw new RangeError(`numPreds must be a whole number >= 0, got ${numPreds}.`);
  const mode = options.mode ?? 'greedy';
  if (mode !== 'greedy' && mode !== 'sample') throw new RangeError(`predict: unknown mode ${JSON.stringify(mode)}: use "greedy" or "sample".`);
  if (mode === 'sample' && !options.rng) throw new Error('Sampling needs a seeded generator: pass { rng: createRng(seed) }.');
  const unknownTokens = [...new Set(tokens.filter((t) => !vocab.has(t)))];
  const outputs = vocab.indicesOf(tokens);
  let state: State = model.beginState(1);
  const step = (ids: number[]): Float32Array => {
    const { logits, next } = tf.tidy(() => {
      const out = model.call(tf.tensor2d(ids, [1, ids.length], 'int32'), state);
      return { logits: tf.slice(out.logits, [out.logits.shape[0] - 1, 0], [1, -1]), next: out.state };
    });
    tf.dispose(state);
    state = next;
    const values = logits.dataSync() as Float32Array;
    logits.dispose();
    return values;
  };
  try {
    // Warm-up: the whole prefix but its last token in one call (the same state as step by step).
    if (outputs.length > 1) step(outputs.slice(0, -1));
    for (let i = 0; i < numPreds; i++) {
      const logits = step([outputs[outputs.length - 1] as number]);
      outputs.push(mode === 'greedy' ? argmax(logits) : sampleLogits(logits, options));
    }
  } finally {
    tf.dispose(state);
  }
  return { text: vocab.tokensOf(outputs).join(options.separator ?? ''), unknownTokens };
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
