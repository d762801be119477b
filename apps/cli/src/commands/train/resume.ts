import { dirname, isAbsolute, resolve } from 'node:path';
import { fileIdentity, formatByteCount, type Preprocessing } from '@rnnkit/data';
import { checkTrainCheckpointMeta, makeOptimizer, type LearningRateSchedule } from '@rnnkit/training';
import { loadRunCheckpoint } from '../../checkpoint.js';
import { RnnkitError, UsageError } from '../../errors.js';
import type { CorpusIdentity, TrainCheckpointMeta, TrainCommandOptions } from './options.js';
import { freshRunFolder, holdsRun, runFolderOf } from './run-folder.js';
import { argumentPath, commandFor, displayPath } from '../../invocation.js';

// A run's settings: the flags for a new run; the checkpoint's own for a resumed one, where a
// given flag that differs is an error and only --epochs may grow.

/** A checkpoint loaded to continue: model, optimizer (restored), config, vocabulary and training record. */
export type Resumed = Awaited<ReturnType<typeof loadRunCheckpoint>> & { metadata: TrainCheckpointMeta };

/** What a run trains with and where it writes. */
export interface RunSettings {
  training: TrainCheckpointMeta['training'];
  out: string;
}

/** The training record of a checkpoint `rnnkit train` wrote; a clear error for one it did not (a page's download). */
function trainingRecord(record: unknown, source: string): TrainCheckpointMeta {
  try {
    return checkTrainCheckpointMeta(record, source);
  } catch (err) {
    throw new RnnkitError((err as Error).message);
  }
}

/** Loads the checkpoint of --resume with its optimizer state; an error when it cannot continue exactly. */
export async function loadForResume(path: string, allowUnverified = false): Promise<Resumed> {
  const loaded = await loadRunCheckpoint(path, {
    allowUnverified,
    optimizer: (record) => {
      const { training: saved } = trainingRecord(record, path);
      return makeOptimizer(saved.optimizer, saved.lr);
    },
  });
  if (!loaded.optimizerRestored) {
    loaded.model.dispose();
    loaded.optimizer?.dispose();
    throw new RnnkitError(`${loaded.source} has no optimizer state beside it (optimizer.json), so the run cannot continue exactly; rnnkit generate reads it.`);
  }
  return { ...loaded, metadata: trainingRecord(loaded.training, loaded.source) };
}

/** Options a resumed run takes from its checkpoint, with their flags. */
const FROM_CHECKPOINT = {
  model: '--model',
  impl: '--impl',
  hidden: '--hidden',
  layers: '--layers',
  bidirectional: '--bidirectional',
  seed: '--seed',
  lr: '--lr',
  optimizer: '--optimizer',
  batchSize: '--batch-size',
  numSteps: '--num-steps',
  randomIter: '--random-iter',
  maxTokens: '--max-tokens',
  preprocess: '--preprocess',
  tokens: '--tokens',
  minFreq: '--min-freq',
  valFraction: '--val-fraction',
  patience: '--patience',
  lrSchedule: '--lr-schedule',
  lrStepSize: '--lr-step-size',
  lrGamma: '--lr-gamma',
  lrMin: '--lr-min',
} as const satisfies Partial<Record<keyof TrainCommandOptions, string>>;

/** The learning-rate schedule the flags describe (cosine over the run's --epochs). */
export function scheduleOf(opts: Pick<TrainCommandOptions, 'lrSchedule' | 'lrStepSize' | 'lrGamma' | 'lrMin' | 'epochs'>): LearningRateSchedule {
  switch (opts.lrSchedule ?? 'constant') {
    case 'constant':
      return { kind: 'constant' };
    case 'step':
      return { kind: 'step', stepSize: opts.lrStepSize ?? 100, gamma: opts.lrGamma ?? 0.5 };
    case 'cosine':
      return { kind: 'cosine', epochs: opts.epochs, minLr: opts.lrMin ?? 0 };
  }
}

/** A schedule's parameters as the flags that set them. */
const scheduleFlags = (s: LearningRateSchedule) => ({
  lrSchedule: s.kind,
  lrStepSize: s.kind === 'step' ? s.stepSize : undefined,
  lrGamma: s.kind === 'step' ? s.gamma : undefined,
  lrMin: s.kind === 'cosine' ? s.minLr : undefined,
});

/** The settings of a new run: its flags, and `out` or a fresh run folder (an error when `out` holds a run, unless --force). */
function freshSettings(opts: TrainCommandOptions): RunSettings {
  const training = {
    epochs: opts.epochs,
    lr: opts.lr,
    optimizer: opts.optimizer,
    batchSize: opts.batchSize,
    numSteps: opts.numSteps,
    randomIter: opts.randomIter,
    maxTokens: opts.maxTokens,
    corpus: opts.corpus,
    preprocess: opts.preprocess ?? 'd2l',
    tokens: opts.tokens ?? 'char',
    minFreq: opts.minFreq ?? 0,
    valFraction: opts.valFraction ?? 0,
    ...(opts.patience === undefined ? {} : { patience: opts.patience }),
    lrSchedule: scheduleOf(opts),
  };
  if (opts.patience !== undefined && !(training.valFraction > 0)) {
    throw new UsageError(`--patience ${opts.patience} stops on validation perplexity: give --val-fraction too (e.g. --val-fraction 0.1).`);
  }
  const unused = (
    {
      constant: ['lrStepSize', 'lrGamma', 'lrMin'],
      step: ['lrMin'],
      cosine: ['lrStepSize', 'lrGamma'],
    } as const
  )[training.lrSchedule.kind].filter((key) => opts[key] !== undefined);
  if (unused.length) {
    throw new UsageError(
      `${unused.map((k) => FROM_CHECKPOINT[k]).join(' and ')} ${unused.length === 1 ? 'is' : 'are'} not used by --lr-schedule ${training.lrSchedule.kind}: give --lr-schedule ${unused.includes('lrMin') ? 'cosine' : 'step'}, or leave ${unused.length === 1 ? 'it' : 'them'} out.`,
    );
  }
  if (training.tokens === 'char' && training.minFreq > 0) {
    throw new UsageError(`--min-freq ${training.minFreq} is for --tokens word: every character of the text stays in a character vocabulary.`);
  }
  const out = opts.out ?? freshRunFolder();
  if (holdsRun(out) && !opts.force) {
    throw new UsageError(
      `--out ${displayPath(out)} already holds a run: continue it with "${commandFor('train')} --resume ${shellWord(argumentPath(out))}", replace it with --force, or choose another --out.`,
    );
  }
  return { training, out };
}

/** The folder a run resumed from `resume` writes: --out, or the run folder `resume` is or is in. */
export const resumedOut = (opts: TrainCommandOptions, resume: string): string => opts.out ?? runFolderOf(resume);

/** The settings of a resumed run: its checkpoint's, with --epochs when given; it writes into its own run folder unless --out says otherwise. */
function resumedSettings(opts: TrainCommandOptions, given: ReadonlySet<string>, resumed: Resumed): RunSettings {
  const saved = resumed.metadata;
  const savedTraining = {
    preprocess: 'd2l' as Preprocessing,
    tokens: 'char' as const,
    minFreq: 0,
    valFraction: 0,
    lrSchedule: { kind: 'constant' } as LearningRateSchedule,
    ...saved.training,
  };
  const fixed: Record<keyof typeof FROM_CHECKPOINT, unknown> = {
    ...{
      model: resumed.config.cell,
      impl: resumed.config.implementation,
      hidden: resumed.config.numHiddens,
      layers: resumed.config.numLayers,
      bidirectional: resumed.config.bidirectional,
      seed: resumed.config.seed,
    },
    ...{
      lr: savedTraining.lr,
      optimizer: savedTraining.optimizer,
      batchSize: savedTraining.batchSize,
      numSteps: savedTraining.numSteps,
      randomIter: savedTraining.randomIter,
    },
    ...{ maxTokens: savedTraining.maxTokens, preprocess: savedTraining.preprocess },
    ...{ tokens: savedTraining.tokens, minFreq: savedTraining.minFreq, valFraction: savedTraining.valFraction, patience: savedTraining.patience },
    ...scheduleFlags(savedTraining.lrSchedule),
  };
  // --corpus is checked by its content (resumeCorpus), wherever the file now is.
  const conflicts = Object.entries(FROM_CHECKPOINT)
    .filter(([key]) => given.has(key) && opts[key as keyof TrainCommandOptions] !== fixed[key as keyof typeof FROM_CHECKPOINT])
    .map(
      ([key, flag]) =>
        `${flag} ${String(opts[key as keyof TrainCommandOptions] ?? '(none)')} (the checkpoint has ${String(fixed[key as keyof typeof FROM_CHECKPOINT] ?? 'none')})`,
    );
  if (given.has('corpus') && saved.training.corpus === undefined) conflicts.push(`--corpus ${opts.corpus} (the checkpoint has none)`);
  if (conflicts.length) {
    throw new UsageError(
      `--resume continues ${resumed.source} with its own settings, and these differ: ${conflicts.join(', ')}. Leave them out, or start a new run in another --out.`,
    );
  }
  const training = { ...savedTraining, epochs: given.has('epochs') ? opts.epochs : savedTraining.epochs };
  if (saved.epoch > training.epochs)
    throw new UsageError(`The checkpoint in ${resumed.source} is at epoch ${saved.epoch}; --epochs ${training.epochs} is fewer.`);
  if (saved.epoch === training.epochs)
    throw new UsageError(`The run in ${resumed.source} is complete (epoch ${saved.epoch} of ${training.epochs}): give a larger --epochs to train it further.`);
  const runDir = runFolderOf(opts.resume ?? resumed.source);
  const out = resumedOut(opts, opts.resume ?? resumed.source);
  if (resolve(out) !== resolve(runDir) && holdsRun(out) && !opts.force) {
    throw new UsageError(
      `--out ${out} already holds another run: resume into ${runDir} (leave --out out), replace ${out} with --force, or choose another --out.`,
    );
  }
  return { training, out };
}

/**
 * The corpus file a resumed run reads: the one whose SHA-256 and size the checkpoint recorded.
 * Without --corpus: the recorded location first, then the recorded name from here. With
 * --corpus: a relative one from the recorded location's folder first, then from here. A file
 * that differs is refused, naming both hashes. Checkpoints from before the hash was recorded
 * read the corpus as given (the vocabulary check still applies).
 */
export async function resumeCorpus(resumed: Resumed, corpus: string | undefined): Promise<{ path?: string; identity?: CorpusIdentity }> {
  const saved = resumed.metadata.training.corpus;
  const recorded = resumed.metadata.corpusFile;
  if (saved === undefined) {
    if (corpus !== undefined) throw new UsageError(`--resume continues ${resumed.source}, which trained on The Time Machine: leave --corpus out.`);
    return {};
  }
  if (!recorded) return { path: corpus ?? saved };
  const places =
    corpus === undefined ? [recorded.path, resolve(saved)] : [...(isAbsolute(corpus) ? [] : [resolve(dirname(recorded.path), corpus)]), resolve(corpus)];
  const found: string[] = [];
  for (const path of [...new Set(places)]) {
    let id: { sha256: string; bytes: number };
    try {
      id = await fileIdentity(path, { what: 'corpus' });
    } catch (err) {
      found.push(`${path}: ${(err as Error).message.replace(/^The corpus file \S+ /, '')}`);
      continue;
    }
    if (id.sha256 === recorded.sha256 && id.bytes === recorded.bytes) return { path, identity: { path, sha256: id.sha256, bytes: id.bytes } };
    found.push(`${path} has SHA-256 ${id.sha256} (${formatByteCount(id.bytes)})`);
  }
  throw new RnnkitError(
    `The corpus of ${resumed.source} is ${recorded.path}, SHA-256 ${recorded.sha256} (${formatByteCount(recorded.bytes)}), and no file here matches: ${found.join('; ')}. ` +
      'Resume with --corpus naming that same text, or start a new run.',
  );
}

/** What a run trains with and where it writes: a resumed run's checkpoint settings, or a new run's flags. */
export function runSettings(opts: TrainCommandOptions, given: ReadonlySet<string>, resumed: Resumed | null): RunSettings {
  return resumed ? resumedSettings(opts, given, resumed) : freshSettings(opts);
}

/** The shell word for a value (quoted when needed). */
const shellWord = (v: string): string => (/^[\w@%+=:,./-]+$/.test(v) ? v : `'${v.replace(/'/g, `'\\''`)}'`);

/** The command that continues a stopped run: --resume and the options not in the checkpoint that differ from their defaults. */
export function resumeCommand(opts: TrainCommandOptions, { training, out }: RunSettings): string {
  const runOptions = [
    `--epochs ${training.epochs}`,
    ...(opts.printEvery !== 10 ? [`--print-every ${opts.printEvery}`] : []),
    ...(opts.checkpointEvery !== 50 ? [`--checkpoint-every ${opts.checkpointEvery}`] : []),
    ...(opts.predictLength !== 50 ? [`--predict-length ${opts.predictLength}`] : []),
    ...(opts.workers ? [`--workers ${opts.workers}`] : []),
    ...(opts.backend !== 'auto' ? [`--backend ${opts.backend}`] : []),
    ...(opts.json ? ['--json'] : []),
  ];
  return `${commandFor('train')} --resume ${shellWord(argumentPath(out))} ${runOptions.join(' ')}`;
}
