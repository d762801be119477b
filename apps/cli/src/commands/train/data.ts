import { corpusData, loadCorpusTimeMachine, splitCorpus, type TimeMachineData } from '@rnnkit/data';
import { textEncodingOf } from '@rnnkit/training';
import { LOCAL_COPY_HINT, RnnkitError } from '../../errors.js';
import type { TrainSettings } from './options.js';
import type { Resumed } from './resume.js';

// A run's text: read, encoded as the run says (a resumed run as its checkpoint was), cut to
// --max-tokens, and split into the part it trains on and the part it validates on.

/** The loader of the training part, the vocabulary, the tokens used (--max-tokens of the text) and, with --val-fraction, the held-out part. */
export type RunData = TimeMachineData;

/**
 * Reads and splits a run's corpus (`corpusPath`: the file to read, a resumed run's as found by
 * its SHA-256; absent: The Time Machine); errors name the flags that fix them.
 */
export async function loadRunData(training: TrainSettings, resumed: Resumed | null, seed: number, corpusPath = training.corpus): Promise<RunData> {
  // A resumed run reads the text as its checkpoint's model did (an rnnkit 0.1 checkpoint: lines joined with nothing).
  const text = resumed ? textEncodingOf(resumed) : { preprocess: training.preprocess ?? 'd2l', tokens: training.tokens ?? 'char' };
  const loaded = await loadCorpusTimeMachine({
    ...text,
    minFreq: training.minFreq ?? 0,
    maxTokens: training.maxTokens,
    source: { path: corpusPath, localCopyHint: LOCAL_COPY_HINT },
  });
  const { corpus, encoding } = loaded;
  if (resumed && !loaded.vocab.equals(resumed.vocab)) {
    throw new RnnkitError('The corpus gives a different vocabulary than the checkpoint: resume with the same text (--corpus) and --max-tokens.');
  }
  const valFraction = training.valFraction ?? 0;
  const parts = splitCorpus(corpus, valFraction);
  const { train, validation } = parts;
  const { batchSize, numSteps } = training;
  const unit = encoding.tokens === 'word' ? 'words' : 'characters';
  const flags = `--val-fraction ${valFraction} of ${corpus.length} ${unit}${training.maxTokens ? ` (--max-tokens ${training.maxTokens})` : ''}`;
  if (valFraction > 0 && validation.length < numSteps + 1) {
    throw new RnnkitError(
      `${flags} holds out ${validation.length}, fewer than one sequence of --num-steps ${numSteps} + 1: raise --val-fraction${training.maxTokens ? ' or --max-tokens (0: the whole text)' : ''}, or lower --num-steps.`,
    );
  }
  // Without validation, the loader's own messages say what is too short (in the flags' names).
  const needed = numSteps * (batchSize + 1);
  if (valFraction > 0 && train.length < needed) {
    throw new RnnkitError(
      `The training part (${train.length} ${unit}, after ${flags} held out ${validation.length}) gives no full minibatch of --batch-size ${batchSize} x --num-steps ${numSteps}: it needs at least ${needed}. Use more text${training.maxTokens ? ' (--max-tokens 0 keeps all of it)' : ''}, a smaller --val-fraction, or a smaller --batch-size or --num-steps.`,
    );
  }
  return corpusData(loaded, { batchSize, numSteps, useRandomIter: training.randomIter, seed }, parts);
}
