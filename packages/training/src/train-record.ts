// The training record `rnnkit train` (and the char-LM page) keep in a language-model checkpoint:
// everything besides the model, its config and vocabulary needed to continue a run exactly.
import { PREPROCESSINGS, TOKEN_KINDS, type Preprocessing, type RngState, type TokenKind } from '@rnnkit/data';
import { checkLearningRateSchedule, type LearningRateSchedule } from './schedule.js';
import type { BestEpoch } from './train.js';

/** A run's training settings, as `rnnkit train`'s flags set them. */
export interface TrainSettings {
  epochs: number;
  lr: number;
  optimizer: 'sgd' | 'adam';
  batchSize: number;
  numSteps: number;
  randomIter: boolean;
  /** 0 keeps the whole text. */
  maxTokens: number;
  /** The corpus file as given (absent: The Time Machine). */
  corpus?: string;
  /** What preprocessing kept of the text (absent: d2l's). */
  preprocess?: Preprocessing;
  /** Characters or words (absent: characters). */
  tokens?: TokenKind;
  /** Tokens seen fewer times map to `<unk>` (absent: 0). */
  minFreq?: number;
  /** The corpus' last share held out for validation (absent: none). */
  valFraction?: number;
  /** Early stopping after this many epochs without a better validation perplexity. */
  patience?: number;
  /** How the learning rate changes by epoch (absent: constant). */
  lrSchedule?: LearningRateSchedule;
  /** What the run's samples continue (`rnnkit generate`'s default prefix for it). */
  prefix?: string;
}

/** Which file a run trained on: where it was, and what it held. */
export interface CorpusIdentity {
  /** The absolute path at the time of the save. */
  path: string;
  /** SHA-256 of its bytes, hex. */
  sha256: string;
  /** Its size in bytes. */
  bytes: number;
}

/** One epoch of a run's history. */
export interface EpochRecord {
  epoch: number;
  perplexity: number;
  tokensPerSecond: number;
  seconds: number;
  /** With validation. */
  validationPerplexity?: number;
  /** The epoch's learning rate, with a schedule other than constant. */
  lr?: number;
}

/** The checkpoint's training record (`LoadedLanguageModel.training`) of a run `rnnkit train` or the page wrote. */
export interface TrainCheckpointMeta {
  /** The rnnkit version (or `web`) that wrote it. */
  rnnkit: string;
  training: TrainSettings;
  /** The corpus file's identity (absent for The Time Machine and for checkpoints written before it was recorded). */
  corpusFile?: CorpusIdentity;
  /** Epochs done. */
  epoch: number;
  /** The minibatch iterator's generator state. */
  loaderState: RngState;
  history: EpochRecord[];
  /** With validation: the best epoch so far (`rnnkit train` keeps its checkpoint in `checkpoint-best/`). */
  best?: BestEpoch;
  /** Data-parallel worker threads of the run's last part (`--workers`; absent: none). */
  workers?: number;
}

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
const wholeAtLeast = (v: unknown, min: number) => typeof v === 'number' && Number.isInteger(v) && v >= min;

/**
 * The reason `record` is not a training record `rnnkit train` can continue, or null when it is.
 * Fields other helpers add are kept; the ones here are checked by type and range.
 */
export function trainCheckpointMetaProblem(record: unknown): string | null {
  if (!isObject(record)) return 'there is no training record';
  const r = record;
  if (!wholeAtLeast(r.epoch, 0)) return `epoch is ${JSON.stringify(r.epoch)}, not a whole number >= 0`;
  if (!isObject(r.training)) return 'there are no training settings';
  const t = r.training;
  for (const key of ['epochs', 'batchSize', 'numSteps'] as const)
    if (!wholeAtLeast(t[key], 1)) return `training.${key} is ${JSON.stringify(t[key])}, not a whole number >= 1`;
  if (!wholeAtLeast(t.maxTokens, 0)) return `training.maxTokens is ${JSON.stringify(t.maxTokens)}, not a whole number >= 0`;
  if (typeof t.lr !== 'number' || !Number.isFinite(t.lr) || t.lr <= 0) return `training.lr is ${JSON.stringify(t.lr)}, not a number > 0`;
  if (t.optimizer !== 'sgd' && t.optimizer !== 'adam') return `training.optimizer is ${JSON.stringify(t.optimizer)}, not "sgd" or "adam"`;
  if (typeof t.randomIter !== 'boolean') return `training.randomIter is ${JSON.stringify(t.randomIter)}, not true or false`;
  if (t.corpus !== undefined && (typeof t.corpus !== 'string' || t.corpus === '')) return `training.corpus is ${JSON.stringify(t.corpus)}, not a file name`;
  if (t.preprocess !== undefined && !PREPROCESSINGS.includes(t.preprocess as Preprocessing)) return `training.preprocess is ${JSON.stringify(t.preprocess)}`;
  if (t.tokens !== undefined && !TOKEN_KINDS.includes(t.tokens as TokenKind)) return `training.tokens is ${JSON.stringify(t.tokens)}, not "char" or "word"`;
  if (t.minFreq !== undefined && !wholeAtLeast(t.minFreq, 0)) return `training.minFreq is ${JSON.stringify(t.minFreq)}, not a whole number >= 0`;
  if (t.valFraction !== undefined && !(typeof t.valFraction === 'number' && t.valFraction >= 0 && t.valFraction < 1))
    return `training.valFraction is ${JSON.stringify(t.valFraction)}, not a number from 0 up to 1`;
  if (t.patience !== undefined && !wholeAtLeast(t.patience, 1)) return `training.patience is ${JSON.stringify(t.patience)}, not a whole number >= 1`;
  if (t.lrSchedule !== undefined) {
    try {
      checkLearningRateSchedule(t.lrSchedule);
    } catch (err) {
      return `training.lrSchedule: ${(err as Error).message}`;
    }
  }
  if (t.prefix !== undefined && (typeof t.prefix !== 'string' || t.prefix === '')) return `training.prefix is ${JSON.stringify(t.prefix)}, not some text`;
  if (r.best !== undefined) {
    const b = r.best;
    if (!isObject(b) || !wholeAtLeast(b.epoch, 1) || typeof b.validationPerplexity !== 'number' || !Number.isFinite(b.validationPerplexity))
      return 'best is not { epoch, validationPerplexity }';
  }
  if (r.corpusFile !== undefined) {
    const c = r.corpusFile;
    if (!isObject(c) || typeof c.path !== 'string' || typeof c.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(c.sha256) || !wholeAtLeast(c.bytes, 0))
      return 'corpusFile is not { path, sha256, bytes }';
  }
  if (r.workers !== undefined && !wholeAtLeast(r.workers, 0)) return `workers is ${JSON.stringify(r.workers)}, not a whole number >= 0`;
  if (!isObject(r.loaderState)) return 'there is no loaderState';
  if (!Array.isArray(r.history)) return 'there is no history';
  for (const h of r.history) {
    if (!isObject(h) || !wholeAtLeast(h.epoch, 1) || !['perplexity', 'tokensPerSecond', 'seconds'].every((k) => typeof h[k] === 'number'))
      return `history holds ${JSON.stringify(h)}, not { epoch, perplexity, tokensPerSecond, seconds }`;
  }
  return null;
}

/** The training record of a language-model checkpoint, or undefined when it has none `rnnkit train` can continue (a page's export of an untrained model...). */
export function trainCheckpointMetaOf(record: unknown): TrainCheckpointMeta | undefined {
  return trainCheckpointMetaProblem(record) === null ? (record as TrainCheckpointMeta) : undefined;
}

/** The training record, checked; throws an Error naming `source` and the problem. */
export function checkTrainCheckpointMeta(record: unknown, source: string): TrainCheckpointMeta {
  const problem = trainCheckpointMetaProblem(record);
  if (problem !== null) throw new Error(`${source} holds no rnnkit train state that can be resumed (${problem}); rnnkit generate reads it.`);
  return record as TrainCheckpointMeta;
}
