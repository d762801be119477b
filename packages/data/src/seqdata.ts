import { checkOptions, checkPositiveInts } from './checks.js';
import { createRng, type Rng, type RngState } from './rng.js';
import type { LineBreak, TextEncoding } from './encoding.js';
import type { Preprocessing, TokenKind } from './text.js';
import type { TimeMachineSource } from './timemachine.js';

/** One minibatch: `X` and `Y` are row-major (batchSize, numSteps) token ids; Y is X shifted by one. */
export interface SeqBatch {
  X: Int32Array;
  Y: Int32Array;
  batchSize: number;
  numSteps: number;
}

function checkSizes(corpusLength: number, batchSize: number, numSteps: number): void {
  checkPositiveInts({ batchSize, numSteps });
  if (numSteps >= corpusLength) {
    throw new RangeError(
      `numSteps (${numSteps}) is longer than the corpus (${corpusLength} tokens): use a smaller numSteps or a longer text (maxTokens 0 keeps the whole text).`,
    );
  }
  // The last offset (numSteps - 1) must still leave one full minibatch.
  const needed = numSteps * (batchSize + 1);
  if (corpusLength < needed) {
    throw new RangeError(
      `A corpus of ${corpusLength} tokens gives no full minibatch of ${batchSize} x ${numSteps}: it needs at least ${needed} tokens. Lower batchSize or numSteps, or use more text.`,
    );
  }
}

/** A minibatch whose row r starts at corpus position `start(r)`; Y is X shifted by one token. */
function batchOf(corpus: Int32Array, batchSize: number, numSteps: number, start: (row: number) => number): SeqBatch {
  const X = new Int32Array(batchSize * numSteps);
  const Y = new Int32Array(batchSize * numSteps);
  for (let r = 0; r < batchSize; r++) {
    const s = start(r);
    X.set(corpus.subarray(s, s + numSteps), r * numSteps);
    Y.set(corpus.subarray(s + 1, s + 1 + numSteps), r * numSteps);
  }
  return { X, Y, batchSize, numSteps };
}

/**
 * d2l `seq_data_iter_random`: a random offset in [0, numSteps-1], then disjoint subsequences of
 * numSteps tokens whose start positions are shuffled; adjacent minibatches are not adjacent text.
 */
export function* seqDataIterRandom(corpus: Int32Array, batchSize: number, numSteps: number, rng: Rng): Generator<SeqBatch> {
  checkSizes(corpus.length, batchSize, numSteps);
  const offset = rng.int(0, numSteps - 1);
  const numSubseqs = Math.floor((corpus.length - offset - 1) / numSteps);
  const starts = Array.from({ length: numSubseqs }, (_, i) => offset + i * numSteps);
  rng.shuffle(starts);
  const numBatches = Math.floor(numSubseqs / batchSize);
  for (let b = 0; b < numBatches; b++) yield batchOf(corpus, batchSize, numSteps, (r) => starts[b * batchSize + r] as number);
}

/**
 * d2l `seq_data_iter_sequential`: a random offset in [0, numSteps-1], the rest reshaped into
 * batchSize rows, read numSteps columns at a time, so row i of minibatch k+1 continues row i of k.
 */
export function* seqDataIterSequential(corpus: Int32Array, batchSize: number, numSteps: number, rng: Rng): Generator<SeqBatch> {
  checkSizes(corpus.length, batchSize, numSteps);
  const offset = rng.int(0, numSteps - 1);
  const rowLength = Math.floor((corpus.length - offset - 1) / batchSize);
  const numBatches = Math.floor(rowLength / numSteps);
  for (let b = 0; b < numBatches; b++) yield batchOf(corpus, batchSize, numSteps, (r) => offset + r * rowLength + b * numSteps);
}

export interface SeqDataLoaderOptions {
  batchSize: number;
  numSteps: number;
  /** Random (true) or sequential (false, default) iteration. */
  useRandomIter?: boolean;
  /** Seed of the loader's own generator. Default 0. */
  seed?: number | string;
}

/**
 * d2l `SeqDataLoader`: re-iterable; every `for..of` is a fresh epoch with a fresh offset drawn
 * from the loader's own seeded generator.
 */
export class SeqDataLoader implements Iterable<SeqBatch> {
  readonly batchSize: number;
  readonly numSteps: number;
  readonly useRandomIter: boolean;
  private readonly seed: number | string;
  private rng: Rng;

  constructor(
    readonly corpus: Int32Array,
    options: SeqDataLoaderOptions,
  ) {
    checkOptions(options, 'new SeqDataLoader(corpus, { batchSize: 32, numSteps: 35 })');
    this.batchSize = options.batchSize;
    this.numSteps = options.numSteps;
    this.useRandomIter = options.useRandomIter ?? false;
    this.seed = options.seed ?? 0;
    checkSizes(corpus.length, this.batchSize, this.numSteps);
    this.rng = createRng(this.seed);
  }

  [Symbol.iterator](): Iterator<SeqBatch> {
    const iter = this.useRandomIter ? seqDataIterRandom : seqDataIterSequential;
    return iter(this.corpus, this.batchSize, this.numSteps, this.rng);
  }

  /** Minibatches in an epoch whose offset is `offset` (the count can differ by one between epochs). */
  batchesAtOffset(offset: number): number {
    if (this.useRandomIter) return Math.floor(Math.floor((this.corpus.length - offset - 1) / this.numSteps) / this.batchSize);
    return Math.floor(Math.floor((this.corpus.length - offset - 1) / this.batchSize) / this.numSteps);
  }

  /** The most minibatches an epoch can have (offset 0). */
  get maxBatchesPerEpoch(): number {
    return this.batchesAtOffset(0);
  }

  /** The generator's state, so a resumed run draws the same epochs as an uninterrupted one. */
  getState(): RngState {
    return this.rng.state();
  }

  setState(state: RngState): void {
    this.rng = createRng(this.seed, state);
  }
}

/**
 * Splits a corpus into the part to train on and its last `valFraction` (rounded to whole
 * tokens), held out for validation: the two never share a token position.
 */
export function splitCorpus(corpus: Int32Array, valFraction: number): { train: Int32Array; validation: Int32Array } {
  if (!(typeof valFraction === 'number' && valFraction >= 0 && valFraction < 1)) {
    throw new RangeError(`valFraction must be a number from 0 (no validation) up to, not including, 1; got ${String(valFraction)}.`);
  }
  const held = Math.round(valFraction * corpus.length);
  return { train: corpus.subarray(0, corpus.length - held), validation: corpus.subarray(corpus.length - held) };
}

/**
 * The minibatches of an evaluation: d2l `seq_data_iter_sequential` at offset 0 (the same batches
 * every time), with the batch size lowered to the rows a short part can fill. Row i of batch k+1
 * continues row i of batch k, so a state carried over sees the part as running text.
 */
export function seqDataEvalBatches(corpus: Int32Array, batchSize: number, numSteps: number): SeqBatch[] {
  checkPositiveInts({ batchSize, numSteps });
  const rows = Math.min(batchSize, Math.floor((corpus.length - 1) / numSteps));
  if (rows < 1) {
    throw new RangeError(
      `A part of ${corpus.length} tokens is too short to evaluate on with numSteps ${numSteps}: it needs at least ${numSteps + 1} tokens. Hold out more text or lower numSteps.`,
    );
  }
  const rowLength = Math.floor((corpus.length - 1) / rows);
  const numBatches = Math.floor(rowLength / numSteps);
  return Array.from({ length: numBatches }, (_, b) => batchOf(corpus, rows, numSteps, (r) => r * rowLength + b * numSteps));
}

export interface LoadDataTimeMachineOptions extends SeqDataLoaderOptions {
  /** d2l default 10000; 0 for the whole book. */
  maxTokens?: number;
  source?: TimeMachineSource;
  /** What preprocessing keeps of the text (see {@link Preprocessing}); default `'d2l'`, d2l's a-z lower-cased. */
  preprocess?: Preprocessing;
  /** Character (default) or word tokens. */
  tokens?: TokenKind;
  /** What joins the lines; default the preprocessing's (see {@link TextEncoding}). */
  lineBreak?: LineBreak;
  /** Tokens seen fewer times map to `<unk>` (d2l's `min_freq`). Default 0. */
  minFreq?: number;
  /**
   * The last share of the corpus (after `maxTokens`) held out for validation, never trained on:
   * `validation` then holds its batches (see {@link seqDataEvalBatches}). Default 0: none.
   */
  valFraction?: number;
}
