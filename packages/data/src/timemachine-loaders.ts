import { checkOptions, checkPositiveInts } from './checks.js';
import { SeqDataLoader, type LoadDataTimeMachineOptions } from './seqdata.js';
import { preprocessText, type Preprocessing } from './text.js';
import { corpusFromText, type Corpus, type CorpusOptions, type TimeMachineSource, type TimeMachineText } from './timemachine.js';
import type { Vocab } from './vocab.js';

/** d2l's three Time Machine loaders over one platform's `fetchTimeMachineText` (Node's or the browser's). */
export function timeMachineLoaders(fetchTimeMachineText: (source?: TimeMachineSource) => Promise<TimeMachineText>) {
  /** d2l `read_time_machine`: the book's lines, preprocessed. */
  async function readTimeMachine(source: TimeMachineSource = {}, preprocess: Preprocessing = 'd2l'): Promise<string[]> {
    return preprocessText((await fetchTimeMachineText(source)).text, preprocess);
  }

  /** d2l `load_corpus_time_machine(max_tokens)`: character indices of The Time Machine and its vocabulary. */
  async function loadCorpusTimeMachine(options: CorpusOptions & { source?: TimeMachineSource } = {}): Promise<Corpus> {
    return corpusFromText((await fetchTimeMachineText(options.source)).text, options);
  }

  /** d2l `load_data_time_machine(batch_size, num_steps, use_random_iter, max_tokens)`. */
  async function loadDataTimeMachine(
    options: LoadDataTimeMachineOptions,
  ): Promise<{ loader: SeqDataLoader; vocab: Vocab; corpus: Int32Array; keptFraction: number }> {
    checkOptions(options, 'loadDataTimeMachine({ batchSize: 32, numSteps: 35 })');
    checkPositiveInts({ batchSize: options.batchSize, numSteps: options.numSteps });
    const { corpus, vocab, keptFraction } = await loadCorpusTimeMachine({
      maxTokens: options.maxTokens ?? 10000,
      source: options.source,
      preprocess: options.preprocess,
    });
    return { loader: new SeqDataLoader(corpus, options), vocab, corpus, keptFraction: keptFraction ?? 1 };
  }

  return { readTimeMachine, loadCorpusTimeMachine, loadDataTimeMachine };
}
