import type * as tf from '@tensorflow/tfjs-core';

/**
 * How the learning rate changes from epoch to epoch, as PyTorch's schedulers stepped once per
 * epoch (epoch 0 is the first):
 * - `constant`: the base rate throughout;
 * - `step` (`StepLR`): the base rate times `gamma` every `stepSize` epochs;
 * - `cosine` (`CosineAnnealingLR`): from the base rate down to `minLr` along half a cosine over
 *   `epochs` epochs, then `minLr`.
 *
 * The rate of an epoch depends on nothing but the schedule and the epoch, so a resumed run uses
 * exactly the rates an uninterrupted one does.
 */
export type LearningRateSchedule = { kind: 'constant' } | { kind: 'step'; stepSize: number; gamma: number } | { kind: 'cosine'; epochs: number; minLr: number };

export const LR_SCHEDULE_KINDS = ['constant', 'step', 'cosine'] as const;

/** Throws a RangeError naming the first bad field of a schedule; returns it otherwise. */
export function checkLearningRateSchedule(schedule: unknown): LearningRateSchedule {
  const s = schedule as Partial<Record<string, unknown>> | null;
  if (typeof s !== 'object' || s === null || !LR_SCHEDULE_KINDS.includes(s.kind as never)) {
    throw new RangeError(`A learning-rate schedule is { kind: ${LR_SCHEDULE_KINDS.map((k) => `'${k}'`).join(' | ')}, ... }; got ${JSON.stringify(schedule)}.`);
  }
  const whole = (name: string) => {
    if (!Number.isInteger(s[name]) || (s[name] as number) < 1)
      throw new RangeError(`The ${s.kind} schedule's ${name} must be a whole number >= 1, got ${String(s[name])}.`);
  };
  if (s.kind === 'step') {
    whole('stepSize');
    if (!(typeof s.gamma === 'number' && s.gamma > 0 && s.gamma <= 1))
      throw new RangeError(`The step schedule's gamma must be a number in (0, 1], got ${String(s.gamma)}.`);
  }
  if (s.kind === 'cosine') {
    whole('epochs');
    if (!(typeof s.minLr === 'number' && s.minLr >= 0 && Number.isFinite(s.minLr)))
      throw new RangeError(`The cosine schedule's minLr must be a number >= 0, got ${String(s.minLr)}.`);
  }
  return s as LearningRateSchedule;
}

/** The learning rate of epoch `epoch` (0 for the first) under `schedule`, from the base rate `lr`. */
export function learningRateAt(lr: number, schedule: LearningRateSchedule, epoch: number): number {
  switch (schedule.kind) {
    case 'constant':
      return lr;
    case 'step':
      return lr * schedule.gamma ** Math.floor(epoch / schedule.stepSize);
    case 'cosine': {
      const t = Math.min(epoch, schedule.epochs);
      return schedule.minLr + ((lr - schedule.minLr) * (1 + Math.cos((Math.PI * t) / schedule.epochs))) / 2;
    }
  }
}

/** Sets an optimizer's learning rate: SGD through `setLearningRate`, Adam and the others through their `learningRate`. */
export function setLearningRate(optimizer: tf.Optimizer, lr: number): void {
  if (!(lr > 0 || (lr === 0 && Number.isFinite(lr)))) throw new RangeError(`The learning rate must be a number >= 0, got ${lr}.`);
  const o = optimizer as unknown as { learningRate?: unknown; setLearningRate?: (lr: number) => void };
  if (typeof o.setLearningRate === 'function') o.setLearningRate(lr);
  else if (typeof o.learningRate === 'number') o.learningRate = lr;
  else throw new Error(`The ${optimizer.getClassName()} optimizer has no learning rate to set.`);
}
