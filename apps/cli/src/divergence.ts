// Divergence, the same rule in every training command: an epoch's loss that is not a finite
// number, or that exceeds 5 times the loss of a model that knows nothing (cross-entropy: ln of
// the number of classes, uniform guessing; squared error: the mean square of the targets,
// predicting 0). Training stops there; the command keeps what it saved and exits with an error.
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { writeFileAtomic } from '@rnnkit/data';
import { TrainingDivergedError } from '@rnnkit/training';
import { RnnkitError } from './errors.js';

/** Training stopped because the loss diverged. */
export class DivergedError extends Error {
  constructor(
    readonly epoch: number,
    readonly loss: number,
    /** What the loss is ("loss per token", "MSE"). */
    readonly what: string,
    readonly limit: number,
  ) {
    super(
      `the ${what} became ${Number.isFinite(loss) ? Number(loss.toPrecision(6)) : loss} at epoch ${epoch}` +
        (Number.isFinite(loss) ? `, more than ${DIVERGENCE_FACTOR} times an untrained model's (${Number((limit / DIVERGENCE_FACTOR).toPrecision(3))})` : ''),
    );
    this.name = 'DivergedError';
  }
}

/** How many times the loss of a model that knows nothing a loss may reach before it counts as diverged. */
export const DIVERGENCE_FACTOR = 5;

/** A check for each epoch's loss: throws a `DivergedError` when it diverged. `baseline`: the loss of a model that knows nothing. */
export function divergenceCheck(baseline: number, what: string): (epoch: number, loss: number) => void {
  const limit = DIVERGENCE_FACTOR * baseline;
  return (epoch, loss) => {
    if (!Number.isFinite(loss) || loss > limit) throw new DivergedError(epoch, loss, what, limit);
  };
}

/** Cross-entropy of uniform guessing among `classes`: ln(classes). */
export const uniformCrossEntropy = (classes: number): number => Math.log(Math.max(2, classes));

/** Mean square of the targets (the squared error of predicting 0). */
export const meanSquare = (values: ArrayLike<number>): number => {
  let s = 0;
  for (let i = 0; i < values.length; i++) s += (values[i] as number) ** 2;
  return values.length > 0 ? Math.max(s / values.length, 1e-12) : 1;
};

/** The one-line error a command ends with after divergence, naming the flag to change and what was kept. */
function divergedMessage(d: DivergedError, lr: number, kept: string): string {
  return `Training diverged: ${d.message}; --lr ${lr} is probably too high. Stopped; ${kept}`;
}

/** What metrics.json records of a divergence. */
const divergedRecord = (d: DivergedError) => ({ epoch: d.epoch, loss: Number.isFinite(d.loss) ? d.loss : String(d.loss) });

/** The divergence an error reports: a `DivergedError`, or a library loop's `TrainingDivergedError` (a loss that is not finite); null for any other error. */
function divergenceOf(err: unknown, what: string): DivergedError | null {
  if (err instanceof DivergedError) return err;
  return err instanceof TrainingDivergedError ? new DivergedError(err.epoch, err.loss, what, Number.NaN) : null;
}

export interface TrainingFailure {
  /** What the loss is, for the message of a library loop's divergence ("loss per token", "training MSE"). */
  what: string;
  /** The --lr the message names. */
  lr: number;
  /** What the message says was kept. */
  kept: string;
  /** The file that records where it diverged (its folder is made if need be), and what else it records. */
  metrics?: { file: string; record: Record<string, unknown> };
  /** On a divergence, before anything is written: stop the bar, free the model, give the folder up. */
  cleanup?: () => unknown;
  /** Any other error is the user's (the library's checks of data and options): an RnnkitError whose "learning rate" names --lr. */
  userError?: boolean;
}

/**
 * The error a training command ends with when its loop threw. A divergence is recorded in
 * `metrics` and becomes the one-line error naming --lr and what was kept; any other error is
 * returned as it is (or as an RnnkitError with `userError`).
 */
export async function trainingFailure(err: unknown, f: TrainingFailure): Promise<unknown> {
  const d = divergenceOf(err, f.what);
  if (!d) return f.userError ? new RnnkitError((err as Error).message.replace('learning rate', 'learning rate (--lr)')) : err;
  await f.cleanup?.();
  if (f.metrics) {
    await mkdir(dirname(f.metrics.file), { recursive: true });
    await writeFileAtomic(f.metrics.file, `${JSON.stringify({ ...f.metrics.record, diverged: divergedRecord(d) }, null, 2)}\n`);
  }
  return new RnnkitError(divergedMessage(d, f.lr, f.kept));
}
