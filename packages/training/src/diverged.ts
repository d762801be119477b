/**
 * A training loop stopped because an epoch's loss is no longer a finite number (NaN or
 * infinite, as an exploding run ends). Callers tell it from other errors by its class, not by
 * its message; it is a `RangeError` for those that catch those.
 */
export class TrainingDivergedError extends RangeError {
  constructor(
    /** The epoch whose loss it was (from 1). */
    readonly epoch: number,
    /** That loss: NaN or ±Infinity. */
    readonly loss: number,
  ) {
    super(`The loss became ${loss} in epoch ${epoch}: training diverged; lower the learning rate.`);
    this.name = 'TrainingDivergedError';
  }
}
