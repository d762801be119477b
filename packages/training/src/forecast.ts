import * as tf from '@tensorflow/tfjs-core';
import { createRng, selectRows, timeMajor, type WindowedSeries, type WindowSet } from '@rnnkit/data';
import { TrainingDivergedError } from './diverged.js';
import { mseLoss } from './loss.js';
import { makeOptimizer, type OptimizerSpec } from './optim.js';
import { optimizeStep } from './step.js';

/** What the forecasting loop needs of a model (`@rnnkit/models`' `TimeSeriesRegressor` has it). */
export interface RegressorLike {
  /** (steps, batch, 1) -> (batch, 1). */
  call(X: tf.Tensor3D): tf.Tensor2D;
  predictWindows(windows: Float32Array, tau: number): Float32Array;
  readonly trainableVariables: tf.Variable[];
}

/** Maps row-major windows (n, tau) to one prediction each. */
export type WindowPredictor = (windows: Float32Array) => Float32Array;

export interface TrainRegressorOptions {
  epochs: number;
  /** Default 0.01 (the PyTorch GRU forecaster this mirrors). */
  lr?: number;
  /** Default 16 (the PyTorch GRU forecaster this mirrors). */
  batchSize?: number;
  /** Default 'adam' (the PyTorch GRU forecaster this mirrors). */
  optimizer?: OptimizerSpec;
  /** Shuffles the windows each epoch. */
  seed?: number | string;
  /** Windows whose 1-step MSE is computed after every epoch (`validationLoss` of onEpochEnd). */
  validation?: WindowSet;
  onEpochEnd?: (info: { epoch: number; loss: number; validationLoss?: number }) => void;
}

/**
 * The time-series loop of the PyTorch GRU forecaster on d2l's noisy sine: MSE on shuffled
 * minibatches of windows; returns each epoch's mean loss. Throws a `TrainingDivergedError` when
 * the loss stops being a finite number.
 */
export function trainRegressor(model: RegressorLike, train: WindowSet, tau: number, options: TrainRegressorOptions): number[] {
  const batchSize = options.batchSize ?? 16;
  const optimizer = makeOptimizer(options.optimizer ?? 'adam', options.lr ?? 0.01);
  const rng = createRng(options.seed ?? 0);
  const order = Array.from({ length: train.size }, (_, i) => i);
  const losses: number[] = [];
  try {
    for (let epoch = 1; epoch <= options.epochs; epoch++) {
      rng.shuffle(order);
      let sum = 0;
      for (let i = 0; i < order.length; i += batchSize) {
        const rows = order.slice(i, i + batchSize);
        const X = tf.tensor3d(timeMajor(selectRows(train.features, rows, tau), tau), [tau, rows.length, 1]);
        const Y = tf.tensor2d(selectRows(train.labels, rows, 1), [rows.length, 1]);
        sum += optimizeStep(model.trainableVariables, () => mseLoss(model.call(X), Y), optimizer).loss * rows.length;
        tf.dispose([X, Y]);
      }
      const loss = sum / train.size;
      if (!Number.isFinite(loss)) throw new TrainingDivergedError(epoch, loss);
      losses.push(loss);
      const v = options.validation;
      options.onEpochEnd?.({ epoch, loss, ...(v ? { validationLoss: meanSquaredError(model.predictWindows(v.features, tau), v.labels) } : {}) });
    }
  } finally {
    if (typeof options.optimizer !== 'object') optimizer.dispose();
  }
  return losses;
}

/** Predicts the last value of each window again (the naive baseline). */
export function lastValuePredictor(tau: number): WindowPredictor {
  return (windows) => Float32Array.from({ length: windows.length / tau }, (_, i) => windows[i * tau + tau - 1] as number);
}

/**
 * Least-squares linear autoregression x_{t} = w . x_{t-tau..t-1} + b (d2l 8.1's linear model, solved
 * exactly by the normal equations instead of SGD).
 */
export function fitLinearAR(train: WindowSet, tau: number): WindowPredictor & { weights: Float64Array; bias: number } {
  const d = tau + 1;
  const A = Array.from({ length: d }, () => new Float64Array(d + 1)); // augmented [X^T X | X^T y]
  for (let r = 0; r < train.size; r++) {
    const row = [...train.features.subarray(r * tau, (r + 1) * tau), 1];
    const y = train.labels[r] as number;
    for (let i = 0; i < d; i++) {
      for (let j = 0; j < d; j++) (A[i] as Float64Array)[j]! += (row[i] as number) * (row[j] as number);
      (A[i] as Float64Array)[d]! += (row[i] as number) * y;
    }
  }
  // Gauss-Jordan with partial pivoting; a tiny ridge keeps it solvable for constant inputs.
  for (let i = 0; i < d; i++) (A[i] as Float64Array)[i]! += 1e-9;
  for (let c = 0; c < d; c++) {
    let p = c;
    for (let r = c + 1; r < d; r++) if (Math.abs(A[r]![c]!) > Math.abs(A[p]![c]!)) p = r;
    [A[c], A[p]] = [A[p]!, A[c]!];
    const pivot = A[c]![c]!;
    for (let j = c; j <= d; j++) A[c]![j]! /= pivot;
    for (let r = 0; r < d; r++) {
      if (r === c) continue;
      const f = A[r]![c]!;
      for (let j = c; j <= d; j++) A[r]![j]! -= f * A[c]![j]!;
    }
  }
  const weights = Float64Array.from({ length: tau }, (_, i) => A[i]![d]!);
  const bias = A[tau]![d]!;
  const predictor = (windows: Float32Array): Float32Array =>
    Float32Array.from({ length: windows.length / tau }, (_, i) => {
      let s = bias;
      for (let j = 0; j < tau; j++) s += (weights[j] as number) * (windows[i * tau + j] as number);
      return s;
    });
  return Object.assign(predictor, { weights, bias });
}

/**
 * k-step-ahead predictions (d2l 8.1): from the true window x[s..s+tau), predict one step, slide
 * the window over the prediction, and repeat k times. Returns, per start s, the prediction of
 * x[s + tau + k - 1]. All starts run as one batch per step.
 */
export function kStepAhead(predict: WindowPredictor, x: Float32Array, tau: number, k: number, starts: readonly number[]): Float32Array {
  const n = starts.length;
  let windows: Float32Array = new Float32Array(n * tau);
  starts.forEach((s, i) => {
    windows.set(x.subarray(s, s + tau), i * tau);
  });
  let pred: Float32Array = new Float32Array(n);
  for (let step = 0; step < k; step++) {
    pred = predict(windows);
    const next = new Float32Array(n * tau);
    for (let i = 0; i < n; i++) {
      next.set(windows.subarray(i * tau + 1, (i + 1) * tau), i * tau);
      next[i * tau + tau - 1] = pred[i] as number;
    }
    windows = next;
  }
  return pred;
}

export function meanSquaredError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`meanSquaredError: lengths differ (${a.length} vs ${b.length}).`);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += ((a[i] as number) - (b[i] as number)) ** 2;
  return s / Math.max(a.length, 1);
}

export interface ForecastReport {
  /** Per predictor, per k: test MSE of the k-step-ahead predictions against the noisy series. */
  mse: Record<string, Record<number, number>>;
  /** Per predictor, per k: the predictions and the time index each one targets (for plots). */
  predictions: Record<string, Record<number, { index: Int32Array; values: Float32Array }>>;
}

/**
 * Test-set forecasts of several predictors on the same windows of any series (`noisySine`'s,
 * `windowSeries`'): the test windows are those starting at or after `numTrain`; for step k each
 * start s predicts x[s + tau + k - 1]. A k longer than the test part gives no predictions (NaN MSE).
 */
export function evaluateForecasts(
  series: Pick<WindowedSeries, 'x' | 'tau' | 'numTrain' | 'numWindows'>,
  predictors: Record<string, WindowPredictor>,
  ks: readonly number[] = [1, 4, 16, 64],
): ForecastReport {
  const { x, tau, numTrain, numWindows } = series;
  const report: ForecastReport = { mse: {}, predictions: {} };
  for (const [name, predict] of Object.entries(predictors)) {
    report.mse[name] = {};
    report.predictions[name] = {};
    for (const k of ks) {
      const starts = Array.from({ length: Math.max(0, numWindows - k + 1 - numTrain) }, (_, i) => numTrain + i);
      const values = kStepAhead(predict, x, tau, k, starts);
      const index = Int32Array.from(starts, (s) => s + tau + k - 1);
      report.mse[name]![k] =
        starts.length === 0
          ? Number.NaN
          : meanSquaredError(
              values,
              Float32Array.from(index, (i) => x[i] as number),
            );
      report.predictions[name]![k] = { index, values };
    }
  }
  return report;
}

/**
 * Forecasts past the end of a series: from its last `tau` values, predicts the next one, slides
 * the window over the prediction, `horizon` times (d2l 8.1's k-step-ahead from the end).
 */
export function forecastAhead(predict: WindowPredictor, x: ArrayLike<number>, tau: number, horizon: number): Float32Array {
  if (!(Number.isInteger(horizon) && horizon >= 1)) throw new RangeError(`horizon must be a whole number >= 1, got ${horizon}.`);
  if (x.length < tau) throw new RangeError(`A forecast needs the last tau = ${tau} values, the series has ${x.length}.`);
  const window = Float32Array.from({ length: tau }, (_, i) => x[x.length - tau + i] as number);
  const out = new Float32Array(horizon);
  for (let h = 0; h < horizon; h++) {
    const next = predict(window)[0] as number;
    out[h] = next;
    window.copyWithin(0, 1);
    window[tau - 1] = next;
  }
  return out;
}
