import { checkOptions, checkPositiveInts } from './checks.js';
import { SeqDataLoader, seqDataEvalBatches, splitCorpus, type LoadDataTimeMachineOptions, type SeqBatch, type SeqDataLoaderOptions } from './seqdata.js';
import type { TextEncoding } from './encoding.js';
import { preprocessText, type Preprocessing } from './text.js';
import { corpusFromText, type Corpus, type CorpusOptions, type FileIdentity, type TimeMachineSource, type TimeMachineText } from './timemachine.js';
import type { Vocab } from './vocab.js';

/** What `loadDataTimeMachine` gives. */
export interface TimeMachineData {
  /** Minibatches of the training part (all of `corpus` without `valFraction`). */
  loader: SeqDataLoader;
  vocab: Vocab;
  /** The tokens used: the first `maxTokens` of the text, validation part included. */
  corpus: Int32Array;
  /** Tokens in the whole text. */
  totalTokens: number;
  keptFraction: number;
  encoding: TextEncoding;
  /** With `valFraction`: the held-out last part and its evaluation batches. */
  validation?: { corpus: Int32Array; batches: SeqBatch[] };
  /** The corpus' `fileIdentity`, when it was read from a path. */
  fileIdentity?: FileIdentity;
}

/**
 * What `loadDataTimeMachine` makes of the corpus it loaded, for any corpus (`corpusFromText`'s):
 * minibatches of its first part, evaluation batches of its last `valFraction`. `parts`: that
 * split (`splitCorpus`), for a caller that checks the parts before the loader is built.
 */
export function corpusData(
  loaded: Corpus,
  options: SeqDataLoaderOptions & { valFraction?: number },
  parts = splitCorpus(loaded.corpus, options.valFraction ?? 0),
): TimeMachineData {
  const { corpus, vocab, keptFraction, totalTokens, encoding, fileIdentity } = loaded;
  const { train, validation } = parts;
  return {
    loader: new SeqDataLoader(train, options),
    vocab,
    corpus,
    keptFraction: keptFraction ?? 1,
    totalTokens,
    encoding,
    ...(validation.length > 0 ? { validation: { corpus: validation, batches: seqDataEvalBatches(validation, options.batchSize, options.numSteps) } } : {}),
    ...(fileIdentity ? { fileIdentity } : {}),
  };
}

/** d2l's three Time Machine loaders over one platform's `fetchTimeMachineText` (Node's or the browser's). */
export function timeMachineLoaders(fetchTimeMachineText: (source?: TimeMachineSource) => Promise<TimeMachineText>) {
  /** d2l `read_time_machine`: the book's lines, preprocessed. */
  async function readTimeMachine(source: TimeMachineSource = {}, preprocess: Preprocessing = 'd2l'): Promise<string[]> {
    return preprocessText((await fetchTimeMachineText(source)).text, preprocess);
  }

  /** d2l `load_corpus_time_machine(max_tokens)`: character indices of The Time Machine and its vocabulary. */
  async function loadCorpusTimeMachine(options: CorpusOptions & { source?: TimeMachineSource } = {}): Promise<Corpus> {
    const { text, fileIdentity } = await fetchTimeMachineText(options.source);
    return { ...corpusFromText(text, options), ...(fileIdentity ? { fileIdentity } : {}) };
  }

  /**
   * d2l `load_data_time_machine(batch_size, num_steps, use_random_iter, max_tokens)`; with
   * `valFraction`, the loader reads only the first part and `validation` holds the last.
   */
  async function loadDataTimeMachine(options: LoadDataTimeMachineOptions): Promise<TimeMachineData> {
    checkOptions(options, 'loadDataTimeMachine({ batchSize: 32, numSteps: 35 })');
    checkPositiveInts({ batchSize: options.batchSize, numSteps: options.numSteps });
    const loaded = await loadCorpusTimeMachine({
      maxTokens: options.maxTokens ?? 10000,
      source: options.source,
      preprocess: options.preprocess,
      tokens: options.tokens,
      lineBreak: options.lineBreak,
      minFreq: options.minFreq,
    });
    return corpusData(loaded, options);
  }

  return { readTimeMachine, loadCorpusTimeMachine, loadDataTimeMachine };
}
