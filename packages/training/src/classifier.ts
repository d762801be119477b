import * as tf from '@tensorflow/tfjs-core';
import { oneHotFloat } from '@rnnkit/cells';
import { checkPositiveInts, createRng, selectPaddedRows, type PaddedArray } from '@rnnkit/data';
import { TrainingDivergedError } from './diverged.js';
import { crossEntropyLoss } from './loss.js';
import { makeOptimizer, type OptimizerSpec } from './optim.js';
import { optimizeStep } from './step.js';

/** What `trainSeqClassifier` needs of a model (`@rnnkit/models`' `SeqClassifier` has it). */
export interface SeqClassifierLike {
  /** X (batch, steps) -> logits (batch*steps, classes), batch-major. */
  call(X: tf.Tensor2D): tf.Tensor2D;
  readonly trainableVariables: tf.Variable[];
}

export interface SeqClassifierEpoch {
  /** 0-based, as the PyTorch hello -> ohlol toy prints it. */
  epoch: number;
  loss: number;
  /** Predicted class ids from the forward pass the loss came from (before the update, as the PyTorch hello -> ohlol toy prints them), (batch, steps). */
  prediction: number[][];
}

export interface TrainSeqClassifierOptions {
  epochs: number;
  /** Default 0.1 (the hello -> ohlol toy). */
  lr?: number;
  /** Default 'adam' (the hello -> ohlol toy). */
  optimizer?: OptimizerSpec;
  onEpochEnd?: (info: SeqClassifierEpoch) => void;
}

/**
 * The hello -> ohlol toy's loop (PyTorch, Adam lr 0.1): one full-batch step per epoch on (batch, steps) inputs and per-step
 * labels, then the current guess.
 */
export function trainSeqClassifier(
  model: SeqClassifierLike,
  inputs: { X: Int32Array; Y: Int32Array; batchSize: number; numSteps: number },
  options: TrainSeqClassifierOptions,
): SeqClassifierEpoch[] {
  const { batchSize, numSteps } = inputs;
  if (inputs.X.length !== batchSize * numSteps || inputs.Y.length !== batchSize * numSteps) {
    throw new Error(`X and Y must both hold batchSize x numSteps = ${batchSize * numSteps} ids.`);
  }
  const optimizer = makeOptimizer(options.optimizer ?? 'adam', options.lr ?? 0.1);
  const X = tf.tensor2d(inputs.X, [batchSize, numSteps], 'int32');
  const labels = tf.tensor1d(inputs.Y, 'int32'); // batch-major, like the logits
  const history: SeqClassifierEpoch[] = [];
  try {
    for (let epoch = 0; epoch < options.epochs; epoch++) {
      let best: tf.Tensor | null = null;
      const { loss } = optimizeStep(
        model.trainableVariables,
        () => {
          const logits = model.call(X);
          best = tf.keep(tf.argMax(logits, 1));
          return crossEntropyLoss(logits, labels);
        },
        optimizer,
      );
      const ids = (best as unknown as tf.Tensor).dataSync();
      (best as unknown as tf.Tensor).dispose();
      const prediction = Array.from({ length: batchSize }, (_, b) => Array.from(ids.subarray(b * numSteps, (b + 1) * numSteps)));
      const info = { epoch, loss, prediction };
      history.push(info);
      options.onEpochEnd?.(info);
    }
  } finally {
    tf.dispose([X, labels]);
    if (typeof options.optimizer !== 'object') optimizer.dispose();
  }
  return history;
}

// ---------------------------------------------------------------------------------------------
// Many-to-one: one label per padded sequence.

/** What `trainSequenceClassifier` needs of a model (`SeqClassifier` of `@rnnkit/models` has it). */
export interface SequenceClassifierLike {
  /** X (batch, steps) ids padded on the right, validLen (batch) -> logits (batch, classes). */
  classify(X: tf.Tensor2D, validLen: Int32Array): tf.Tensor2D;
  readonly trainableVariables: tf.Variable[];
}

/** Padded sequences and one class id per row. */
export interface LabelledSequences {
  X: PaddedArray;
  labels: Int32Array;
}

export interface ClassifierEvaluation {
  /** Mean cross-entropy (unweighted). */
  loss: number;
  /** Share of rows whose most likely class is their label. */
  accuracy: number;
  /** confusion[actual][predicted]: how many rows of each class went to each class. */
  confusion: number[][];
  predictions: Int32Array;
}

export interface SequenceClassifierEpoch {
  /** 1-based. */
  epoch: number;
  /** Mean training loss of the epoch's minibatches (class-weighted when weights are given). */
  loss: number;
  /** Training accuracy of the epoch's forward passes (before each update). */
  accuracy: number;
  /** On `options.validation`, after the epoch. */
  validation?: ClassifierEvaluation;
  seconds: number;
}

export interface TrainSequenceClassifierOptions {
  epochs: number;
  /** Default 0.01. */
  lr?: number;
  /** Default 32. */
  batchSize?: number;
  /** Default 'adam'. */
  optimizer?: OptimizerSpec;
  /** Gradient clipping by global norm. Default 1; null turns it off. */
  theta?: number | null;
  /**
   * A weight per class: the loss is sum(w[y] * loss) / sum(w[y]) over a batch, as PyTorch's
   * `CrossEntropyLoss(weight=w)`. `balancedClassWeights` gives n / (classes * count).
   */
  classWeights?: ArrayLike<number>;
  /** Evaluated after every epoch. */
  validation?: LabelledSequences;
  /** Shuffles the rows each epoch. */
  seed?: number | string;
  onEpochEnd?: (info: SequenceClassifierEpoch) => void;
}

function checkLabelled(data: LabelledSequences, numClasses: number, what: string): void {
  if (data.labels.length !== data.X.rows) throw new Error(`${what}: ${data.X.rows} sequences but ${data.labels.length} labels.`);
  for (const l of data.labels) if (!(l >= 0 && l < numClasses)) throw new RangeError(`${what}: label ${l} is outside the ${numClasses} classes.`);
}

/** Class weights n / (classes * count of the class), as scikit-learn's 'balanced'; a class with no rows gets 0. */
export function balancedClassWeights(labels: ArrayLike<number>, numClasses: number): number[] {
  const counts = new Array<number>(numClasses).fill(0);
  for (let i = 0; i < labels.length; i++) counts[labels[i] as number]! += 1;
  return counts.map((c) => (c > 0 ? labels.length / (numClasses * c) : 0));
}

/** confusion[actual][predicted] counts. */
export function confusionMatrix(actual: ArrayLike<number>, predicted: ArrayLike<number>, numClasses: number): number[][] {
  if (actual.length !== predicted.length) throw new Error(`confusionMatrix: ${actual.length} labels but ${predicted.length} predictions.`);
  const m = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (let i = 0; i < actual.length; i++) m[actual[i] as number]![predicted[i] as number]! += 1;
  return m;
}

function batchTensors(data: LabelledSequences, rows: number[]) {
  const X = selectPaddedRows(data.X, rows);
  return {
    X: tf.tensor2d(X.array, [rows.length, X.numSteps], 'int32'),
    validLen: X.validLen,
    labels: tf.tensor1d(
      Int32Array.from(rows, (r) => data.labels[r] as number),
      'int32',
    ),
  };
}

/** Loss, accuracy and confusion matrix of a many-to-one classifier on labelled sequences, in batches. */
export function evaluateClassifier(
  model: SequenceClassifierLike,
  data: LabelledSequences,
  options: { numClasses: number; batchSize?: number },
): ClassifierEvaluation {
  const { numClasses } = options;
  checkLabelled(data, numClasses, 'evaluateClassifier');
  const batchSize = options.batchSize ?? 256;
  const predictions = new Int32Array(data.X.rows);
  let lossSum = 0;
  for (let i = 0; i < data.X.rows; i += batchSize) {
    const rows = Array.from({ length: Math.min(batchSize, data.X.rows - i) }, (_, j) => i + j);
    const b = batchTensors(data, rows);
    const [loss, best] = tf.tidy(() => {
      const logits = model.classify(b.X, b.validLen);
      if (logits.shape[1] !== numClasses) throw new Error(`evaluateClassifier: the model gives ${logits.shape[1]} classes, not ${numClasses}.`);
      return [crossEntropyLoss(logits, b.labels), tf.argMax(logits, 1)];
    });
    lossSum += (loss.dataSync()[0] as number) * rows.length;
    predictions.set(best.dataSync() as Int32Array, i);
    tf.dispose([loss, best, b.X, b.labels]);
  }
  const correct = predictions.reduce((n, p, i) => n + Number(p === data.labels[i]), 0);
  const n = Math.max(data.X.rows, 1);
  return { loss: lossSum / n, accuracy: correct / n, confusion: confusionMatrix(data.labels, predictions, numClasses), predictions };
}

/**
 * Many-to-one sequence classification: shuffled minibatches of padded sequences, the logits of
 * each row's pooled hidden state (its last real step, or the mean: see `SeqClassifier.classify`),
 * cross-entropy with optional class weights, clipping, and validation after every epoch.
 * Throws a `TrainingDivergedError` when the loss stops being a finite number.
 */
export function trainSequenceClassifier(
  model: SequenceClassifierLike,
  train: LabelledSequences,
  options: TrainSequenceClassifierOptions,
): SequenceClassifierEpoch[] {
  const batchSize = options.batchSize ?? 32;
  checkPositiveInts({ batchSize });
  if (!(Number.isInteger(options.epochs) && options.epochs >= 1)) throw new RangeError(`epochs must be a whole number >= 1, got ${options.epochs}.`);
  const weights = options.classWeights ? Float32Array.from(options.classWeights) : null;
  if (weights && !weights.every((w) => Number.isFinite(w) && w >= 0)) throw new RangeError('classWeights must be finite numbers >= 0.');
  let maxLabel = 0;
  for (const ls of [train.labels, options.validation?.labels ?? new Int32Array(0)]) for (const l of ls) maxLabel = Math.max(maxLabel, l);
  const numClasses = weights?.length ?? maxLabel + 1;
  checkLabelled(train, numClasses, 'trainSequenceClassifier');
  if (options.validation) checkLabelled(options.validation, numClasses, 'trainSequenceClassifier (validation)');
  const theta = options.theta === null ? undefined : (options.theta ?? 1);
  const optimizer = makeOptimizer(options.optimizer ?? 'adam', options.lr ?? 0.01);
  const rng = createRng(options.seed ?? 0);
  const order = Array.from({ length: train.X.rows }, (_, i) => i);
  const history: SequenceClassifierEpoch[] = [];
  try {
    for (let epoch = 1; epoch <= options.epochs; epoch++) {
      const start = performance.now();
      rng.shuffle(order);
      let lossSum = 0;
      let weightSum = 0;
      let correct = 0;
      for (let i = 0; i < order.length; i += batchSize) {
        const rows = order.slice(i, i + batchSize);
        const b = batchTensors(train, rows);
        const rowWeights = weights ? Float32Array.from(rows, (r) => weights[train.labels[r] as number] as number) : null;
        const w = rowWeights ? tf.tensor1d(rowWeights) : null;
        const wSum = rowWeights ? rowWeights.reduce((a, x) => a + x, 0) : rows.length;
        let best: tf.Tensor | null = null;
        const { loss } = optimizeStep(
          model.trainableVariables,
          () => {
            const logits = model.classify(b.X, b.validLen);
            best = tf.keep(tf.argMax(logits, 1));
            if (!w) return crossEntropyLoss(logits, b.labels);
            const perRow = tf.losses.softmaxCrossEntropy(oneHotFloat(b.labels, logits.shape[1]), logits, undefined, 0, tf.Reduction.NONE);
            return tf.div(tf.sum(tf.mul(perRow, w)), Math.max(wSum, 1e-12)) as tf.Scalar;
          },
          optimizer,
          theta,
        );
        const got = (best as unknown as tf.Tensor).dataSync();
        got.forEach((p, j) => {
          correct += Number(p === train.labels[rows[j] as number]);
        });
        tf.dispose([best as unknown as tf.Tensor, b.X, b.labels, ...(w ? [w] : [])]);
        if (!Number.isFinite(loss)) throw new TrainingDivergedError(epoch, loss);
        lossSum += loss * wSum;
        weightSum += wSum;
      }
      const info: SequenceClassifierEpoch = {
        epoch,
        loss: lossSum / Math.max(weightSum, 1e-12),
        accuracy: correct / Math.max(train.X.rows, 1),
        seconds: (performance.now() - start) / 1000,
      };
      if (options.validation) info.validation = evaluateClassifier(model, options.validation, { numClasses });
      history.push(info);
      options.onEpochEnd?.(info);
    }
  } finally {
    if (typeof options.optimizer !== 'object') optimizer.dispose();
  }
  return history;
}
