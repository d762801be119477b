import { RNNModelScratch, gruCell, lstmCell, rnnCell, type RecurrentLanguageModel, type ScratchCell } from '@rnnkit/cells';
import { textEncoding, type TextEncoding } from '@rnnkit/data';
import { RNNModel } from './rnn-model.js';
import { cellKindsInWords, isCellKind, type CellKind } from './cell-kinds.js';
import type { RNNModelImplementation } from './rnn-core.js';

/** d2l's from-scratch model (`RNNModelScratch` of @rnnkit/cells), or one of `RNNModel`'s two implementations. */
export type LanguageModelImplementation = 'scratch' | RNNModelImplementation;

/** Everything that defines a language model's shape (checkpoints store it); d2l's names. */
export interface LanguageModelConfig {
  cell: CellKind;
  implementation: LanguageModelImplementation;
  numHiddens: number;
  numLayers: number;
  bidirectional: boolean;
  vocabSize: number;
  /** Seed of the parameter initialisation. */
  seed: number;
  /**
   * How its training text became tokens (`Corpus.encoding` of `@rnnkit/data`): what a prefix
   * goes through before generation, and whether the vocabulary holds characters or words.
   * Absent: d2l's (a-z lower-cased, characters, lines joined with nothing).
   */
  text?: TextEncoding;
}

/** d2l's from-scratch cell of each kind (`implementation: 'scratch'`). */
const SCRATCH_CELLS = { rnn: rnnCell, gru: gruCell, lstm: lstmCell } as const satisfies Record<CellKind, ScratchCell>;
const IMPLEMENTATIONS: readonly LanguageModelImplementation[] = ['scratch', 'fused', 'layers'];

const isPositiveInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v > 0;

/**
 * Checks a config (for example one read from a file) field by field; throws an Error naming the
 * first bad field and the values it takes. Returns it typed.
 */
export function checkLanguageModelConfig(config: unknown): LanguageModelConfig {
  if (typeof config !== 'object' || config === null) throw new Error('A language model config must be an object.');
  const c = config as Record<string, unknown>;
  if (!isCellKind(c.cell)) throw new Error(`config.cell is ${JSON.stringify(c.cell)}: use ${cellKindsInWords('"')}.`);
  if (typeof c.implementation !== 'string' || !IMPLEMENTATIONS.includes(c.implementation as LanguageModelImplementation)) {
    throw new Error(`config.implementation is ${JSON.stringify(c.implementation)}: use "scratch", "fused" or "layers".`);
  }
  for (const key of ['numHiddens', 'numLayers', 'vocabSize'] as const) {
    if (!isPositiveInt(c[key])) throw new Error(`config.${key} is ${JSON.stringify(c[key])}: it must be a positive integer.`);
  }
  if (typeof c.bidirectional !== 'boolean') throw new Error(`config.bidirectional is ${JSON.stringify(c.bidirectional)}: it must be true or false.`);
  if (typeof c.seed !== 'number' || !Number.isFinite(c.seed)) throw new Error(`config.seed is ${JSON.stringify(c.seed)}: it must be a finite number.`);
  if (c.text !== undefined) {
    const t = c.text as Partial<TextEncoding> | null;
    if (typeof t !== 'object' || t === null || t.preprocess === undefined || t.tokens === undefined || t.lineBreak === undefined)
      throw new Error(`config.text is ${JSON.stringify(c.text)}: it must be { preprocess, tokens, lineBreak } (a corpus' encoding).`);
    try {
      textEncoding(t);
    } catch (err) {
      throw new Error(`config.text: ${(err as Error).message}`);
    }
  }
  return config as LanguageModelConfig;
}

/**
 * Builds the language model a config describes: d2l's `RNNModelScratch` (one unidirectional
 * layer) or `RNNModel` (fused or tf.layers). Equal configs build equal weights.
 */
export function createLanguageModel(config: LanguageModelConfig): RecurrentLanguageModel {
  const { cell, implementation, numHiddens, numLayers, bidirectional, vocabSize, seed } = checkLanguageModelConfig(config);
  if (implementation === 'scratch') {
    if (numLayers !== 1 || bidirectional)
      throw new Error('The scratch implementation has one unidirectional layer: use implementation "fused" for numLayers > 1 or bidirectional.');
    return new RNNModelScratch({ vocabSize, numHiddens, ...SCRATCH_CELLS[cell], seed });
  }
  if (implementation === 'layers' && bidirectional)
    throw new Error('The layers implementation is unidirectional here: use implementation "fused" for bidirectional.');
  // tf.layers.gru has only the reset-before GRU (d2l's); the fused GRU defaults to PyTorch's.
  return new RNNModel({ vocabSize, cell, numHiddens, numLayers, bidirectional, implementation, seed, resetAfter: implementation !== 'layers' });
}
