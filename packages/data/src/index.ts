// The default entry, safe in browsers and workers; Node gets index.node.ts through the `node`
// export condition (the same API plus files, the environment and the download cache).
export { checkPositiveInts, checkOptions, checkSeed } from './checks.js';
export { selectRows, timeMajor } from './arrays.js';
export { createRng, type Rng, type RngState } from './rng.js';
export {
  preprocessLine,
  preprocessPrefix,
  preprocessText,
  keptFraction,
  splitLines,
  tokenize,
  PREPROCESSINGS,
  type Preprocessing,
  type TokenKind,
} from './text.js';
export {
  textEncoding,
  corpusTokens,
  prefixText,
  encodePrefix,
  joinTokens,
  corpusPrefix,
  joinLineTokens,
  describeEncoding,
  D2L_TEXT_ENCODING,
  DEFAULT_LINE_BREAKS,
  TOKEN_KINDS,
  type TextEncoding,
  type LineBreak,
  type EncodedPrefix,
} from './encoding.js';
export { Vocab, UNK, countTokens, type VocabOptions, type VocabJSON } from './vocab.js';
export {
  TIME_MACHINE_URL,
  TIME_MACHINE_SHA1,
  TIME_MACHINE_ENV,
  TIME_MACHINE_MODULE,
  decodeText,
  corpusFromLines,
  corpusFromText,
  sha1Hex,
  bytesIdentity,
  type DataFileSource,
  type TimeMachineSource,
  type TimeMachineText,
  type FileIdentity,
  type Corpus,
  type CorpusOptions,
} from './timemachine.js';
export { fetchTimeMachineText, readTimeMachine, loadCorpusTimeMachine, loadDataTimeMachine } from './timemachine-browser.js';
export { corpusData, type TimeMachineData } from './timemachine-loaders.js';
export {
  seqDataIterRandom,
  seqDataEvalBatches,
  splitCorpus,
  seqDataIterSequential,
  SeqDataLoader,
  type SeqBatch,
  type SeqDataLoaderOptions,
  type LoadDataTimeMachineOptions,
} from './seqdata.js';
export { helloToy, noisySine, type HelloToy, type SineSeries, type SineSeriesOptions } from './datasets.js';
export {
  windowSeries,
  timeSeriesData,
  StandardScaler,
  type WindowSet,
  type WindowedSeries,
  type WindowSeriesOptions,
  type StandardScalerJSON,
  type TimeSeriesData,
} from './series.js';
export { parseCsvColumn, parseTsv, type CsvColumn, type ParseCsvColumnOptions, type ParseTsvOptions } from './tables.js';
export {
  PAD,
  textTokens,
  encodeTexts,
  classificationData,
  stratifiedSplit,
  selectPaddedRows,
  type ClassificationData,
  type ClassificationDataOptions,
} from './classification.js';
export { reversePairs, truncatePad, buildArrayNmt, type ReversePairsOptions, type PaddedArray } from './seq2seq.js';
export { FRA_ENG_HEAD } from './shipped/fra-eng-head.generated.js';
export {
  NMT_RESERVED_TOKENS,
  preprocessNmt,
  tokenizeNmt,
  nmtVocab,
  nmtSpecialIds,
  buildArrayNmtTokens,
  loadDataNmt,
  type LoadDataNmtOptions,
  type NmtData,
} from './nmt.js';
