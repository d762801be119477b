// The kinds of model a checkpoint can hold. To add one: a record here (its config check, weight
// count, builder and vocabularies), listed in CHECKPOINT_KINDS; saving, loading, the checks and
// the migration then work for it as they do for the others.
import { checkSeed } from '@rnnkit/data';
import {
  EncoderDecoder,
  GATES,
  SEQUENCE_POOLINGS,
  SeqClassifier,
  TimeSeriesRegressor,
  cellKindsInWords,
  checkLanguageModelConfig,
  createLanguageModel,
  isCellKind,
  type CellKind,
  type LanguageModelConfig,
  type SequencePooling,
} from '@rnnkit/models';
import type { RecurrentLanguageModel } from '@rnnkit/cells';
import type { CheckpointKind, CheckpointModel } from './format.js';
import { upgradeLanguageModelLegacy, upgradeTranslationLegacy } from './legacy.js';

/** Reads a config object's fields with messages that name `config.<field>`. */
function fields(config: unknown): Record<string, unknown> {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new Error('The config must be an object.');
  return config as Record<string, unknown>;
}

function positiveInt(c: Record<string, unknown>, key: string, fallback?: number): number {
  const v = c[key] === undefined ? fallback : c[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 2 ** 31 - 1) {
    throw new Error(`config.${key} is ${JSON.stringify(c[key])}: it must be a whole number from 1 to ${2 ** 31 - 1}.`);
  }
  return v;
}

function cellOf(c: Record<string, unknown>, fallback: CellKind): CellKind {
  const v = c.cell === undefined ? fallback : c.cell;
  if (!isCellKind(v)) throw new Error(`config.cell is ${JSON.stringify(c.cell)}: use ${cellKindsInWords('"')}.`);
  return v;
}

function seedOf(c: Record<string, unknown>): number | string {
  const v = c.seed === undefined ? 0 : c.seed;
  try {
    checkSeed(v, 'config.seed');
  } catch (err) {
    throw new Error((err as Error).message);
  }
  return v as number | string;
}

function tokenKindOf(v: unknown): 'char' | 'word' {
  if (v !== 'char' && v !== 'word') throw new Error(`config.tokens is ${JSON.stringify(v)}: use "char" or "word".`);
  return v;
}

function classesOf(v: unknown, numClasses: number): string[] {
  if (!Array.isArray(v) || v.length !== numClasses) throw new Error(`config.classes must list config.numClasses (${numClasses}) class names.`);
  const seen = new Set<string>();
  for (const name of v) {
    if (typeof name !== 'string' || name === '') throw new Error(`config.classes holds ${JSON.stringify(name)}: class names are non-empty strings.`);
    if (seen.has(name)) throw new Error(`config.classes lists ${JSON.stringify(name)} twice.`);
    seen.add(name);
  }
  return v as string[];
}

/** Weights of a recurrent layer with two bias vectors (PyTorch's b_ih and b_hh): W_ih, W_hh, b_ih, b_hh. */
const recurrentWeights = (gates: number, inputs: number, hidden: number) => gates * hidden * (inputs + hidden + 2);
/** A stack: the first layer reads `inputs`, the others the layer below's `hidden` (closed form: no loop over layers). */
const stackWeights = (gates: number, inputs: number, hidden: number, layers: number) =>
  recurrentWeights(gates, inputs, hidden) + (layers - 1) * recurrentWeights(gates, hidden, hidden);

/**
 * Language models (`createLanguageModel`: d2l's `RNNModelScratch`, `RNNModel` fused or on
 * tf.layers); vocabulary `vocab`: one character per token, or one word with `config.text.tokens` `'word'`.
 */
export const languageModelKind: CheckpointKind<RecurrentLanguageModel, LanguageModelConfig> = {
  name: 'language-model',
  description: 'a language model',
  checkConfig: checkLanguageModelConfig,
  weightCount(c) {
    const g = GATES[c.cell];
    const h = c.numHiddens;
    const v = c.vocabSize;
    const head = h * (c.bidirectional ? 2 : 1) * v + v;
    // d2l's scratch model and tf.layers keep one bias per gate; the fused layers two (PyTorch's).
    if (c.implementation === 'scratch') return g * h * (v + h + 1) + head;
    if (c.implementation === 'layers') return g * h * (v + h + 1) + (c.numLayers - 1) * g * h * (2 * h + 1) + head;
    const dirs = c.bidirectional ? 2 : 1;
    return dirs * recurrentWeights(g, v, h) + (c.numLayers - 1) * dirs * recurrentWeights(g, h * dirs, h) + head;
  },
  build: createLanguageModel,
  // Characters unless its text encoding (config.text, absent before word models) says words.
  vocabularies: { vocab: { size: 'vocabSize', characters: (c) => (c.text?.tokens ?? 'char') === 'char', reserved: [] } },
  upgradeLegacy: upgradeLanguageModelLegacy,
};

/** What a translation checkpoint's config holds: `EncoderDecoderOptions` with every default filled in. */
export interface TranslationConfig {
  srcVocabSize: number;
  tgtVocabSize: number;
  embedSize: number;
  numHiddens: number;
  numLayers: number;
  cell: CellKind;
  dropout: number;
  init: 'pytorch' | 'xavier';
  seed: number | string;
}

/** d2l's tokens of a translation vocabulary, right after `<unk>`. */
const NMT_RESERVED = ['<pad>', '<bos>', '<eos>'] as const;

/** d2l 9.7's GRU encoder-decoder (`EncoderDecoder`); vocabularies `sourceVocab` and `targetVocab`, word tokens. */
export const translationKind: CheckpointKind<EncoderDecoder, TranslationConfig> = {
  name: 'translation',
  description: 'a translation model (encoder-decoder)',
  checkConfig(config) {
    const c = fields(config);
    const dropout = c.dropout === undefined ? 0 : c.dropout;
    if (typeof dropout !== 'number' || !(dropout >= 0 && dropout < 1))
      throw new Error(`config.dropout is ${JSON.stringify(c.dropout)}: it must be a number in [0, 1).`);
    const init = c.init === undefined ? 'pytorch' : c.init;
    if (init !== 'pytorch' && init !== 'xavier') throw new Error(`config.init is ${JSON.stringify(c.init)}: use "pytorch" or "xavier".`);
    return {
      srcVocabSize: positiveInt(c, 'srcVocabSize'),
      tgtVocabSize: positiveInt(c, 'tgtVocabSize'),
      embedSize: positiveInt(c, 'embedSize'),
      numHiddens: positiveInt(c, 'numHiddens'),
      numLayers: positiveInt(c, 'numLayers', 2),
      cell: cellOf(c, 'gru'),
      dropout,
      init,
      seed: seedOf(c),
    };
  },
  weightCount(c) {
    const g = GATES[c.cell];
    const e = c.embedSize;
    const h = c.numHiddens;
    const encoder = c.srcVocabSize * e + stackWeights(g, e, h, c.numLayers);
    const decoder = c.tgtVocabSize * e + stackWeights(g, e + h, h, c.numLayers) + h * c.tgtVocabSize + c.tgtVocabSize;
    return encoder + decoder;
  },
  build: (c) => new EncoderDecoder(c),
  vocabularies: {
    sourceVocab: { size: 'srcVocabSize', characters: () => false, reserved: NMT_RESERVED },
    targetVocab: { size: 'tgtVocabSize', characters: () => false, reserved: NMT_RESERVED },
  },
  upgradeLegacy: upgradeTranslationLegacy,
};

/** What a sequence classifier checkpoint's config holds: `SeqClassifierOptions` with every default filled in. */
export interface SeqClassifierConfig {
  vocabSize: number;
  embeddingSize: number;
  numHiddens: number;
  numClasses: number;
  cell: CellKind;
  /** How `classify` reads a sequence: its last real step's hidden state, or the mean of its real steps'. */
  pooling: SequencePooling;
  seed: number | string;
  /** What the vocabulary's tokens are, when it has one: characters or words. */
  tokens?: 'char' | 'word';
  /** The class names, when known: `classes[i]` is class i (numClasses of them, none empty or repeated). */
  classes?: string[];
}

/**
 * `SeqClassifier` (the hello -> ohlol toy's model, and many-to-one text classification); an
 * optional vocabulary `vocab` (`<unk>`, `<pad>`, then the tokens: `classificationData`'s), and
 * optionally the token kind and the class names in the config.
 */
export const seqClassifierKind: CheckpointKind<SeqClassifier, SeqClassifierConfig> = {
  name: 'sequence-classifier',
  description: 'a sequence classifier',
  checkConfig(config) {
    const c = fields(config);
    const pooling = c.pooling === undefined ? 'last' : c.pooling;
    if (typeof pooling !== 'string' || !SEQUENCE_POOLINGS.includes(pooling as SequencePooling)) {
      throw new Error(`config.pooling is ${JSON.stringify(c.pooling)}: use ${SEQUENCE_POOLINGS.map((p) => `"${p}"`).join(' or ')}.`);
    }
    return {
      vocabSize: positiveInt(c, 'vocabSize'),
      embeddingSize: positiveInt(c, 'embeddingSize'),
      numHiddens: positiveInt(c, 'numHiddens'),
      numClasses: positiveInt(c, 'numClasses'),
      cell: cellOf(c, 'rnn'),
      pooling: pooling as SequencePooling,
      seed: seedOf(c),
      ...(c.tokens === undefined ? {} : { tokens: tokenKindOf(c.tokens) }),
      ...(c.classes === undefined ? {} : { classes: classesOf(c.classes, c.numClasses as number) }),
    };
  },
  weightCount: (c) =>
    c.vocabSize * c.embeddingSize + recurrentWeights(GATES[c.cell], c.embeddingSize, c.numHiddens) + c.numHiddens * c.numClasses + c.numClasses,
  build: ({ vocabSize, embeddingSize, numHiddens, numClasses, cell, pooling, seed }) =>
    new SeqClassifier({ vocabSize, embeddingSize, numHiddens, numClasses, cell, pooling, seed }),
  vocabularies: { vocab: { size: 'vocabSize', characters: (c) => c.tokens === 'char', reserved: ['<pad>'], optional: true } },
};

/** What a time-series regressor checkpoint's config holds: `TimeSeriesRegressorOptions` with every default filled in. */
export interface TimeSeriesRegressorConfig {
  inputSize: number;
  numHiddens: number;
  cell: CellKind;
  seed: number | string;
}

/** `TimeSeriesRegressor` (the GRU forecaster); no vocabulary. */
export const timeSeriesRegressorKind: CheckpointKind<TimeSeriesRegressor, TimeSeriesRegressorConfig> = {
  name: 'time-series-regressor',
  description: 'a time-series regressor',
  checkConfig(config) {
    const c = fields(config);
    return { inputSize: positiveInt(c, 'inputSize', 1), numHiddens: positiveInt(c, 'numHiddens'), cell: cellOf(c, 'gru'), seed: seedOf(c) };
  },
  weightCount: (c) => recurrentWeights(GATES[c.cell], c.inputSize, c.numHiddens) + c.numHiddens + 1,
  build: (c) => new TimeSeriesRegressor(c),
  vocabularies: {},
};

/** Every kind this rnnkit reads, for loading a checkpoint of any kind (`loadAnyCheckpoint`, `migrateCheckpoint`). */
export const CHECKPOINT_KINDS: readonly CheckpointKind<CheckpointModel, unknown>[] = [
  languageModelKind as unknown as CheckpointKind,
  translationKind as unknown as CheckpointKind,
  seqClassifierKind as unknown as CheckpointKind,
  timeSeriesRegressorKind as unknown as CheckpointKind,
];
