// Divergence, the same rule in every training command: an epoch's loss that is not a finite
// number, or that exceeds 5 times the loss of a model that knows nothing (cross-entropy: ln of
// the number of classes, uniform guessing; squared error: the mean square of the targets,
// predicting 0). Training stops there; the command keeps what it saved and exits with an error.

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
export function divergedMessage(d: DivergedError, lr: number, kept: string): string {
  return `Training diverged: ${d.message}; --lr ${lr} is probably too high. Stopped; ${kept}`;
}

/** What metrics.json records of a divergence. */
export const divergedRecord = (d: DivergedError) => ({ epoch: d.epoch, loss: Number.isFinite(d.loss) ? d.loss : String(d.loss) });

/**
 * The divergence an error reports: a `DivergedError`, or a training loop's own "The loss became
 * NaN in epoch N" (the library loops throw it for a loss that is not finite); null for any other error.
 */
export function divergenceOf(err: unknown, what: string): DivergedError | null {
  if (err instanceof DivergedError) return err;
  const m = /The loss became (\S+) in epoch (\d+)/.exec((err as Error)?.message ?? '');
  return m ? new DivergedError(Number(m[2]), Number(m[1]), what, Number.NaN) : null;
}
