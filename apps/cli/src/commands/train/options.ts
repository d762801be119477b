import type { LearningRateSchedule, TrainSettings } from '@rnnkit/training';
import type { CellKind } from '@rnnkit/models';
import type { BackendChoice } from '../../backend.js';
import type { LanguageModelImplementation } from '../../lm.js';

/**
 * `rnnkit train`'s options: the run's training settings as its checkpoint records them
 * (`TrainSettings`; the schedule as its flags), the model, and how this process runs.
 */
export interface TrainCommandOptions extends Omit<TrainSettings, 'lrSchedule'> {
  model: CellKind;
  impl: LanguageModelImplementation;
  hidden: number;
  layers: number;
  bidirectional: boolean;
  /** How the learning rate changes by epoch. Default constant. */
  lrSchedule?: LearningRateSchedule['kind'];
  /** `step`: epochs between two cuts of the rate. */
  lrStepSize?: number;
  /** `step`: the factor of each cut. */
  lrGamma?: number;
  /** `cosine`: the rate at the end. */
  lrMin?: number;
  seed: number;
  /** Output folder. Default: `runs/train`, or `runs/train-2`, `-3`... when taken; a resumed run's own folder. */
  out?: string;
  /** Replace a run already in `out` (never one another live process is writing). */
  force?: boolean;
  /** Load a --resume checkpoint of the old layout without checksums (its damage cannot be detected). */
  allowUnverified?: boolean;
  backend: BackendChoice;
  json: boolean;
  /** A checkpoint folder (or a run folder holding `checkpoint/`) to continue from. */
  resume?: string;
  /** Epochs between greedy continuations (and progress lines when not on a terminal). */
  printEvery: number;
  /** Epochs between checkpoints (one is always written at the end and on Ctrl-C). */
  checkpointEvery: number;
  /** Length of the continuations. */
  predictLength: number;
  /** Extra worker threads for data-parallel steps (0: this thread only). */
  workers: number;
  /**
   * The options set on the command line; the others are defaults. A resumed run keeps its
   * checkpoint's settings: given ones that differ are an error, and `epochs` only counts when
   * given. Default: every option counts as given.
   */
  given?: readonly string[];
}

// The checkpoint's training record and its checks live in @rnnkit/training (the page reads them too).
export type { TrainCheckpointMeta, EpochRecord, CorpusIdentity, TrainSettings } from '@rnnkit/training';
