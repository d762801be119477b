import { totalmem } from 'node:os';
import { UsageError } from './errors.js';
import { GATES } from '@rnnkit/models';
import type { LanguageModelConfig } from './lm.js';

type Shape = Pick<LanguageModelConfig, 'cell' | 'numHiddens' | 'numLayers' | 'bidirectional' | 'vocabSize'>;

/**
 * Weights of a language model as `createLanguageModel` builds it (each gate's W, U and biases, and
 * the output layer), in closed form: layers above the first are alike, so --layers 1e12 costs no loop.
 */
export function parameterCount(config: Shape): number {
  const g = GATES[config.cell];
  const dirs = config.bidirectional ? 2 : 1;
  const h = config.numHiddens;
  const layer = (inputs: number) => dirs * g * (inputs * h + h * h + 2 * h);
  return layer(config.vocabSize) + (config.numLayers - 1) * layer(h * dirs) + h * dirs * config.vocabSize + config.vocabSize;
}

/**
 * A rough upper estimate of the bytes training needs: weights, their gradients and two optimizer
 * slots (Adam), plus the activations kept for backpropagation through time.
 */
export function trainingBytes(config: Shape, batchSize: number, numSteps: number): number {
  const dirs = config.bidirectional ? 2 : 1;
  const g = GATES[config.cell];
  const activations = batchSize * numSteps * (config.numLayers * dirs * config.numHiddens * (g + 3) + 3 * config.vocabSize);
  return 4 * (4 * parameterCount(config) + activations);
}

export const formatBytes = (bytes: number): string =>
  bytes >= 2 ** 30
    ? `${(bytes / 2 ** 30).toFixed(1)} GiB`
    : bytes >= 2 ** 20
      ? `${Math.round(bytes / 2 ** 20)} MiB`
      : `${Math.max(1, Math.round(bytes / 2 ** 10))} KiB`;

/** The largest --hidden whose estimate fits in `limit` bytes (other settings fixed). */
export function largestHidden(config: Omit<Shape, 'numHiddens'>, batchSize: number, numSteps: number, limit: number): number {
  let lo = 0;
  let hi = 1 << 20;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (trainingBytes({ ...config, numHiddens: mid }, batchSize, numSteps) <= limit) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * A usage error when training `config` would need more memory than the machine has (three
 * quarters of it; at most 4 GiB on the wasm backend), naming the largest --hidden that fits.
 */
export function checkTrainingFits(config: Shape, batchSize: number, numSteps: number, backend: string): void {
  const memoryLimit = Math.min(totalmem() * 0.75, backend === 'wasm' ? 4 * 2 ** 30 : Infinity);
  const needed = trainingBytes(config, batchSize, numSteps);
  if (needed <= memoryLimit) return;
  const most = largestHidden(config, batchSize, numSteps, memoryLimit);
  // When even one hidden unit does not fit, the hidden size is not what to change.
  const advice = most >= 1 ? `use --hidden ${most} or less` : 'even --hidden 1 does not fit: use fewer --layers, or a smaller --batch-size or --num-steps';
  const what = most >= 1 ? `--hidden ${config.numHiddens}` : `--layers ${config.numLayers} with --hidden ${config.numHiddens}`;
  throw new UsageError(
    `${what} needs about ${formatBytes(needed)} to train (${parameterCount(config).toLocaleString('en')} weights, their gradients, optimizer state and activations); ` +
      `${backend === 'wasm' ? 'the wasm backend has at most 4 GiB' : `this machine has ${formatBytes(totalmem())}`}: ${advice}.`,
  );
}

/**
 * A usage error when a model of `weights` weights would not fit to train (the weights, their
 * gradients and two optimizer slots in float32, against the same limit as above), naming `flags`.
 */
export function checkWeightsFit(weights: number, backend: string, flags: string): void {
  const memoryLimit = Math.min(totalmem() * 0.75, backend === 'wasm' ? 4 * 2 ** 30 : Infinity);
  const needed = 16 * weights;
  if (needed <= memoryLimit && weights < 2 ** 31) return;
  throw new UsageError(
    `${flags} give a model of ${weights.toLocaleString('en')} weights, which needs about ${formatBytes(needed)} to train (the weights, their gradients and optimizer state); ` +
      `${backend === 'wasm' ? 'the wasm backend has at most 4 GiB' : `this machine has ${formatBytes(totalmem())}`}: choose smaller sizes.`,
  );
}
