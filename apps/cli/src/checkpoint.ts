import type * as tf from '@tensorflow/tfjs-core';
import { CheckpointError, loadLanguageModel, saveLanguageModel, type LanguageModelCheckpoint, type LoadedLanguageModel } from '@rnnkit/training/node';
import { RnnkitError } from './errors.js';

// A checkpoint is a folder in TensorFlow.js's own file format, written and checked by
// @rnnkit/training (saveLanguageModel / loadLanguageModel): model.json (weights manifest, rnnkit
// metadata, SHA-256 checksums), weights.bin, and optimizer.json/optimizer.bin for resuming.

const userError = (err: unknown): unknown => (err instanceof CheckpointError ? new RnnkitError(err.message) : err);

/** Saves a run's checkpoint folder (crash-safe: a complete folder or the previous one, never half of one). */
export async function saveRunCheckpoint(dir: string, checkpoint: LanguageModelCheckpoint): Promise<void> {
  try {
    await saveLanguageModel(dir, checkpoint);
  } catch (err) {
    throw userError(err);
  }
}

/**
 * Loads a checkpoint folder, a run folder holding `checkpoint/`, or a `.json` file (a page's
 * `downloads://name` gives `name.json`). `optimizer` (to resume) is built from the training
 * record once it is read, and restored exactly.
 */
export async function loadRunCheckpoint(path: string, options: { optimizer?: (training: unknown) => tf.Optimizer } = {}): Promise<LoadedLanguageModel> {
  if (path.trim() === '') throw new RnnkitError('The checkpoint path is empty: give a checkpoint folder, a run folder or a model .json file.');
  try {
    return await loadLanguageModel(path, { optimizer: options.optimizer });
  } catch (err) {
    throw userError(err);
  }
}
