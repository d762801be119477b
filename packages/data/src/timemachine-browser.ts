import { preprocessText, type Preprocessing } from './text.js';
import { checkOptions, checkPositiveInts } from './checks.js';
import { SeqDataLoader, type LoadDataTimeMachineOptions } from './seqdata.js';
import {
  TIME_MACHINE_SHA1,
  TIME_MACHINE_URL,
  corpusFromText,
  downloadChecked,
  shippedTimeMachine,
  wantsDownload,
  type Corpus,
  type CorpusOptions,
  type TimeMachineSource,
  type TimeMachineText,
} from './timemachine.js';
import type { Vocab } from './vocab.js';

// Browsers' (and other non-Node runtimes') The Time Machine: the shipped copy, or a URL checked
// with Web Crypto. Files, the environment and the cache are Node's (timemachine-node.ts).

const HOW_TO = 'In a browser, pass { url } of a copy (same SHA-1) or no source for the copy shipped with @rnnkit/data.';

/**
 * The raw text of The Time Machine: downloaded from `url` (or d2l's address with
 * `download: true`) and checked against its SHA-1, else the copy shipped with the package.
 * d2l `download`.
 */
export async function fetchTimeMachineText(source: TimeMachineSource = {}): Promise<TimeMachineText> {
  if (source.path !== undefined) {
    throw new Error(`Reading the file ${source.path} needs Node. ${HOW_TO}`);
  }
  if (wantsDownload(source)) {
    const url = source.url ?? TIME_MACHINE_URL;
    const body = await downloadChecked(url, source.sha1 ?? TIME_MACHINE_SHA1, source.timeoutMs ?? 60_000, HOW_TO);
    return { text: new TextDecoder().decode(body), origin: 'download', file: url };
  }
  if (source.shipped === false) {
    throw new Error(`The shipped copy of The Time Machine is off and no download was asked for. ${HOW_TO}`);
  }
  return shippedTimeMachine();
}

/** d2l `read_time_machine`: the book's lines, preprocessed. */
export async function readTimeMachine(source: TimeMachineSource = {}, preprocess: Preprocessing = 'd2l'): Promise<string[]> {
  return preprocessText((await fetchTimeMachineText(source)).text, preprocess);
}

/** d2l `load_corpus_time_machine(max_tokens)`: character indices of The Time Machine and its vocabulary. */
export async function loadCorpusTimeMachine(options: CorpusOptions & { source?: TimeMachineSource } = {}): Promise<Corpus> {
  return corpusFromText((await fetchTimeMachineText(options.source)).text, options);
}

/** d2l `load_data_time_machine(batch_size, num_steps, use_random_iter, max_tokens)`. */
export async function loadDataTimeMachine(
  options: LoadDataTimeMachineOptions,
): Promise<{ loader: SeqDataLoader; vocab: Vocab; corpus: Int32Array; keptFraction: number }> {
  checkOptions(options, 'loadDataTimeMachine({ batchSize: 32, numSteps: 35 })');
  checkPositiveInts({ batchSize: options.batchSize, numSteps: options.numSteps });
  const { corpus, vocab, keptFraction } = await loadCorpusTimeMachine({ maxTokens: options.maxTokens ?? 10000, source: options.source, preprocess: options.preprocess });
  return { loader: new SeqDataLoader(corpus, options), vocab, corpus, keptFraction: keptFraction ?? 1 };
}
