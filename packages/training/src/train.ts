import * as tf from '@tensorflow/tfjs-core';
import type { SeqBatch } from '@rnnkit/data';
import { recordOpPath, type RecurrentLanguageModel, type State } from '@rnnkit/cells';
import { languageModelLoss } from './loss.js';
import { makeOptimizer, markTraining, type OptimizerSpec } from './optim.js';
import { checkLearningRateSchedule, learningRateAt, setLearningRate, type LearningRateSchedule } from './schedule.js';
import { stepPathReporter, type StepPath } from './paths.js';
import { applyClippedGradients, optimizeStep } from './step.js';
import { yieldToEventLoop } from './yield.js';

/** One optimisation step's result. */
export interface StepResult {
  /** Mean cross-entropy of the minibatch. */
  loss: number;
  /** Global gradient norm before clipping. */
  gradNorm: number;
  /** The state after the minibatch (kept; the caller disposes it). */
  state: State;
}

function disposeState(state: State | null): void {
  if (state) for (const s of state) s.dispose();
}

/**
 * The mean loss of one minibatch as a function for `tf.variableGrads`, which also keeps the
 * model's new state (outside the gradient's tidy) and hands it to `onState`.
 */
export function languageModelObjective(
  model: RecurrentLanguageModel,
  X: tf.Tensor2D,
  Y: tf.Tensor2D,
  state: State,
  onState: (next: State) => void,
): () => tf.Scalar {
  const callThenLoss = () => {
    recordOpPath('denseCrossEntropy', false, `${model.constructor.name} has no loss(): its logits, then a separate cross-entropy`);
    const out = model.call(X, state);
    return { loss: languageModelLoss(out.logits, Y), state: out.state };
  };
  return () => {
    const out = model.loss ? model.loss(X, Y, state) : callThenLoss();
    onState(out.state.map((s) => tf.keep(s)));
    return out.loss;
  };
}

/**
 * One minibatch: forward, mean loss, gradients of every trainable variable, clipping by global
 * norm, one optimizer update. The incoming state is a constant here, so no gradient flows into
 * earlier minibatches (d2l's `state.detach_()`).
 */
export function trainStep(model: RecurrentLanguageModel, X: tf.Tensor2D, Y: tf.Tensor2D, state: State, optimizer: tf.Optimizer, theta: number): StepResult {
  // A model that takes its own gradients (RNNModel's fused passes on the kernels) skips the tape,
  // and leaves them in the kernels' memory where the update runs too.
  const own = model.lossGradientsInKernels?.(X, Y, state) ?? model.lossGradients?.(X, Y, state);
  if (own) return { loss: own.loss, gradNorm: applyClippedGradients(own.grads, optimizer, theta), state: own.state };
  let next: State = [];
  const objective = languageModelObjective(model, X, Y, state, (s) => (next = s));
  const { loss, gradNorm } = optimizeStep(model.trainableVariables, objective, optimizer, theta);
  return { loss, gradNorm, state: next };
}

export interface EpochResult {
  /** exp(mean loss over all tokens of the epoch). */
  perplexity: number;
  /** Mean loss per token. */
  loss: number;
  tokens: number;
  seconds: number;
  tokensPerSecond: number;
  steps: number;
  /** True when `shouldStop` ended the epoch early. */
  stopped: boolean;
}

export interface EpochOptions {
  /** Clipping threshold (d2l: 1). */
  theta?: number;
  /** Random iteration: a fresh state every minibatch. Sequential (default): carry it over. */
  useRandomIter?: boolean;
  onStep?: (info: { step: number; loss: number; gradNorm: number; tokens: number }) => void;
  /**
   * Told which way the steps ran (each fused op on rnnkit's kernels or its fallback, and why):
   * after the first step, and again when that changes.
   */
  onPath?: (path: StepPath) => void;
  /** Checked between minibatches; true ends the epoch. */
  shouldStop?: () => boolean;
  /**
   * Runs each minibatch's step elsewhere (e.g. `DataParallelTrainer` of `@rnnkit/training/parallel`,
   * which splits it across threads). It keeps its own recurrent state: `reset` says when a fresh
   * one is due. Asynchronous, so only `trainEpochAsync` / `trainLanguageModel` take it.
   */
  stepper?: MinibatchStepper;
}

/** Something that performs one training step on a whole minibatch (forward, backward, clip, update). */
export interface MinibatchStepper {
  step(batch: SeqBatch, reset: boolean, optimizer: tf.Optimizer, theta: number): Promise<{ loss: number; gradNorm: number }>;
}

function batchTensors(batch: SeqBatch): [tf.Tensor2D, tf.Tensor2D] {
  const shape: [number, number] = [batch.batchSize, batch.numSteps];
  return [tf.tensor2d(batch.X, shape, 'int32'), tf.tensor2d(batch.Y, shape, 'int32')];
}

/**
 * The body of an epoch as a generator that pauses after every minibatch, so one loop serves the
 * synchronous `trainEpoch` and the asynchronous `trainLanguageModel` (which yields to the event
 * loop there). Returns the epoch's figures.
 */
function* epochSteps(
  model: RecurrentLanguageModel,
  batches: Iterable<SeqBatch>,
  optimizer: tf.Optimizer,
  options: EpochOptions,
): Generator<Promise<{ loss: number; gradNorm: number }> | null, EpochResult, { loss: number; gradNorm: number } | undefined> {
  const theta = options.theta ?? 1;
  const reported = stepPathReporter(options.onPath);
  const start = performance.now();
  let state: State | null = null;
  let lossSum = 0;
  let tokens = 0;
  let steps = 0;
  let stopped = false;
  try {
    for (const batch of batches) {
      if (options.shouldStop?.()) {
        stopped = true;
        break;
      }
      let result: { loss: number; gradNorm: number };
      if (options.stepper) {
        result = (yield options.stepper.step(batch, steps === 0 || options.useRandomIter === true, optimizer, theta)) as { loss: number; gradNorm: number };
      } else {
        if (state === null || options.useRandomIter) {
          disposeState(state);
          state = model.beginState(batch.batchSize);
        }
        const [X, Y] = batchTensors(batch);
        const from: State = state;
        const full: StepResult = reported(() => trainStep(model, X, Y, from, optimizer, theta));
        tf.dispose([X, Y]);
        disposeState(state);
        state = full.state;
        result = full;
      }
      const n = batch.batchSize * batch.numSteps;
      lossSum += result.loss * n;
      tokens += n;
      steps++;
      options.onStep?.({ step: steps, loss: result.loss, gradNorm: result.gradNorm, tokens: n });
      yield null;
    }
  } finally {
    disposeState(state);
  }
  const seconds = (performance.now() - start) / 1000;
  const loss = tokens > 0 ? lossSum / tokens : Number.NaN;
  return { perplexity: Math.exp(loss), loss, tokens, seconds, tokensPerSecond: tokens / seconds, steps, stopped };
}

/** d2l `train_epoch_ch8`: one pass over the batches; returns perplexity and tokens/s. */
export function trainEpoch(model: RecurrentLanguageModel, batches: Iterable<SeqBatch>, optimizer: tf.Optimizer, options: EpochOptions = {}): EpochResult {
  if (options.stepper) throw new Error('A stepper is asynchronous: use trainEpochAsync or trainLanguageModel.');
  const steps = epochSteps(model, batches, optimizer, options);
  for (;;) {
    const next = steps.next();
    if (next.done) return next.value;
  }
}

/** `trainEpoch` that yields to the event loop after each minibatch, so signals are handled. */
export async function trainEpochAsync(
  model: RecurrentLanguageModel,
  batches: Iterable<SeqBatch>,
  optimizer: tf.Optimizer,
  options: EpochOptions = {},
): Promise<EpochResult> {
  const steps = epochSteps(model, batches, optimizer, options);
  let next = steps.next();
  for (;;) {
    if (next.done) return next.value;
    if (next.value) {
      next = steps.next(await next.value); // a stepper's minibatch
    } else {
      await yieldToEventLoop();
      next = steps.next();
    }
  }
}

export interface Evaluation {
  /** exp(mean loss over all tokens). */
  perplexity: number;
  /** Mean loss per token. */
  loss: number;
  tokens: number;
}

/**
 * The perplexity of a model on batches it does not train on (no gradients, no updates): the
 * state carried from batch to batch as in sequential training (pass batches whose rows continue
 * each other, e.g. `seqDataEvalBatches` of `@rnnkit/data`), fresh at the start.
 */
export function evaluateLanguageModel(model: RecurrentLanguageModel, batches: Iterable<SeqBatch>): Evaluation {
  let state: State | null = null;
  let lossSum = 0;
  let tokens = 0;
  try {
    for (const batch of batches) {
      if (state === null || state[0]?.shape[0] !== batch.batchSize) {
        disposeState(state);
        state = model.beginState(batch.batchSize);
      }
      const current: State = state;
      const { loss, next } = tf.tidy(() => {
        const [X, Y] = batchTensors(batch);
        if (model.loss) {
          const out = model.loss(X, Y, current);
          return { loss: out.loss, next: out.state };
        }
        const out = model.call(X, current);
        return { loss: languageModelLoss(out.logits, Y), next: out.state };
      });
      disposeState(state);
      state = next;
      const n = batch.batchSize * batch.numSteps;
      lossSum += (loss.dataSync()[0] as number) * n;
      loss.dispose();
      tokens += n;
    }
  } finally {
    disposeState(state);
  }
  if (tokens === 0) throw new Error('evaluateLanguageModel: no batches to evaluate on.');
  const loss = lossSum / tokens;
  return { perplexity: Math.exp(loss), loss, tokens };
}

export interface EpochInfo extends EpochResult {
  /** 1-based epoch number. */
  epoch: number;
  epochs: number;
  /** The learning rate of this epoch. */
  lr: number;
  /** With `validation`: the perplexity on it after this epoch. */
  validationPerplexity?: number;
  /** With `validation`: the best epoch so far and its validation perplexity (this one when it improved). */
  best?: BestEpoch;
  /** True when this epoch is the last because validation perplexity stopped improving (`patience`). */
  earlyStop?: boolean;
}

/** The epoch with the lowest validation perplexity. */
export interface BestEpoch {
  epoch: number;
  validationPerplexity: number;
}

export interface TrainOptions {
  epochs: number;
  lr: number;
  /** Default 'sgd' (d2l). One built from a name is disposed when the run ends; pass one to keep it. */
  optimizer?: OptimizerSpec;
  theta?: number;
  useRandomIter?: boolean;
  /** Epochs already done (a resumed run starts after them). Default 0. */
  startEpoch?: number;
  onEpochEnd?: (info: EpochInfo) => void | Promise<void>;
  onStep?: EpochOptions['onStep'] & {};
  onPath?: EpochOptions['onPath'] & {};
  /** Runs the minibatches elsewhere, e.g. across threads (`DataParallelTrainer`). */
  stepper?: MinibatchStepper;
  /**
   * Aborting stops after the current minibatch, and undoes the epoch it ends inside: the weights,
   * the optimizer's state and the loader's draws (a `SeqDataLoader`'s) go back to where the last
   * whole epoch left them, so that the model is the one `epochsDone` says, and continuing from
   * there (`startEpoch: epochsDone`, with the same optimizer object and `best`) equals a run that
   * never stopped. Pass an optimizer of your own for that: one made from a name is disposed when
   * the call returns. `restoreBest` does not apply to a stop.
   */
  signal?: AbortSignal;
  /**
   * False: a stop keeps the updates of the epoch it ends inside, and no copies of the weights and
   * the optimizer's state are kept at each epoch's start (they double that memory during the
   * epoch). For callers that abort only between epochs (from `onEpochEnd`). Default true.
   */
  undoStoppedEpoch?: boolean;
  /** Batches held out from training: their perplexity is measured after every epoch (`evaluateLanguageModel`). */
  validation?: Iterable<SeqBatch>;
  /**
   * Early stopping: end when validation perplexity has not improved for this many epochs.
   * Needs `validation`.
   */
  patience?: number;
  /** The best epoch of the run so far, for a resumed run (patience counts from it). */
  best?: BestEpoch;
  /**
   * Put the best epoch's weights back into the model when the run ends by `patience` or after
   * `epochs` (kept in memory as they come), not when it is stopped through `signal`. Default:
   * when `patience` is set. Only an epoch of this call can be restored.
   */
  restoreBest?: boolean;
  /** How the learning rate changes by epoch (`lr` is the base rate). Default constant: the optimizer's own rate is left alone. */
  lrSchedule?: LearningRateSchedule;
}

export interface TrainResult {
  history: EpochInfo[];
  /** Perplexity of the last full epoch. */
  perplexity: number;
  /** Mean tokens/s over the run. */
  tokensPerSecond: number;
  /** Whether the run ended early through `signal`. */
  stopped: boolean;
  epochsDone: number;
  /** With `validation`: the best epoch (of the run, `best` included). */
  best?: BestEpoch;
  /** True when `patience` ended the run. */
  earlyStopped: boolean;
  /** True when the best epoch's weights were put back into the model (`restoreBest`). */
  restoredBest: boolean;
}

/**
 * d2l `train_ch8`: trains for `epochs` epochs with clipping, reporting perplexity and tokens/s
 * after each. Yields to the event loop between minibatches so signals (Ctrl-C) are seen.
 */
export async function trainLanguageModel(model: RecurrentLanguageModel, loader: Iterable<SeqBatch>, options: TrainOptions): Promise<TrainResult> {
  const { epochs, validation, patience } = options;
  if (!Number.isInteger(epochs) || epochs < 0) throw new RangeError(`epochs must be a whole number >= 0, got ${epochs}.`);
  if (patience !== undefined && (!Number.isInteger(patience) || patience < 1)) throw new RangeError(`patience must be a whole number >= 1, got ${patience}.`);
  if (patience !== undefined && !validation)
    throw new Error('patience needs validation batches: pass validation (e.g. seqDataEvalBatches of a held-out part).');
  const schedule = options.lrSchedule ? checkLearningRateSchedule(options.lrSchedule) : undefined;
  const optimizer = makeOptimizer(options.optimizer ?? 'sgd', options.lr);
  const restoreBest = options.restoreBest ?? patience !== undefined;
  const history: EpochInfo[] = [];
  let stopped = false;
  let earlyStopped = false;
  let epoch = options.startEpoch ?? 0;
  let best: BestEpoch | undefined = options.best;
  let bestWeights: tf.Tensor[] | null = null;
  const shouldStop = (): boolean => options.signal?.aborted === true;
  try {
    while (epoch < epochs && !shouldStop() && !earlyStopped) {
      const lr = schedule ? learningRateAt(options.lr, schedule, epoch) : options.lr;
      if (schedule && schedule.kind !== 'constant') setLearningRate(optimizer, lr);
      // A stop can come inside an epoch: its minibatches are then undone, so that the run stands
      // where the last whole epoch left it, as its epoch count says, and a continued run equals an
      // uninterrupted one.
      const mark = options.signal && options.undoStoppedEpoch !== false ? await markTraining(model.trainableVariables, optimizer, loader) : null;
      let result: EpochResult;
      try {
        result = await trainEpochAsync(model, loader, optimizer, { ...options, shouldStop });
        // Even with no minibatch run, the loader's iterator has drawn the epoch's offset.
        if (result.stopped) await mark?.restore();
      } finally {
        mark?.dispose();
      }
      if (result.stopped) {
        stopped = true;
        break;
      }
      epoch++;
      const info: EpochInfo = { ...result, epoch, epochs, lr };
      if (validation) {
        const { perplexity } = evaluateLanguageModel(model, validation);
        info.validationPerplexity = perplexity;
        if (!best || perplexity < best.validationPerplexity) {
          best = { epoch, validationPerplexity: perplexity };
          if (restoreBest) {
            tf.dispose(bestWeights ?? []);
            bestWeights = model.trainableVariables.map((v) => tf.keep(tf.clone(v)));
          }
        }
        info.best = { ...best };
        if (patience !== undefined && epoch - best.epoch >= patience && epoch < epochs) info.earlyStop = earlyStopped = true;
      }
      history.push(info);
      await options.onEpochEnd?.(info);
    }
  } finally {
    if (optimizer !== options.optimizer) optimizer.dispose();
  }
  stopped ||= shouldStop() && epoch < epochs;
  let restoredBest = false;
  if (bestWeights) {
    // Not on a stop through `signal`: that leaves the last whole epoch, to be continued from.
    if (best && best.epoch !== epoch && (earlyStopped || !stopped)) {
      const weights = bestWeights;
      model.trainableVariables.forEach((v, i) => {
        v.assign(weights[i] as tf.Tensor);
      });
      restoredBest = true;
    }
    tf.dispose(bestWeights);
  }
  const tokens = history.reduce((a, h) => a + h.tokens, 0);
  const seconds = history.reduce((a, h) => a + h.seconds, 0);
  return {
    history,
    perplexity: history.at(-1)?.perplexity ?? Number.NaN,
    tokensPerSecond: seconds > 0 ? tokens / seconds : 0,
    stopped,
    epochsDone: epoch,
    ...(best ? { best } : {}),
    earlyStopped,
    restoredBest,
  };
}
