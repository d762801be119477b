import type * as tf from '@tensorflow/tfjs-core';
import {
  CheckpointError,
  loadCheckpoint,
  loadLanguageModel,
  saveCheckpoint,
  saveLanguageModel,
  type Checkpoint,
  type CheckpointKind,
  type CheckpointModel,
  type LanguageModelCheckpoint,
  type LoadedCheckpoint,
  type LoadedLanguageModel,
} from '@rnnkit/training/node';
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

/** Saves a checkpoint of any kind into the folder `dir` (crash-safe as `saveRunCheckpoint`). */
export async function saveKindCheckpoint<M extends CheckpointModel, C>(dir: string, kind: CheckpointKind<M, C>, checkpoint: Checkpoint<M, C>): Promise<void> {
  try {
    await saveCheckpoint(dir, kind, checkpoint);
  } catch (err) {
    throw userError(err);
  }
}

/** Loads a checkpoint of `kind` (a checkpoint folder or a run folder holding `checkpoint/`), with every check. */
export async function loadKindCheckpoint<M extends CheckpointModel, C>(path: string, kind: CheckpointKind<M, C>): Promise<LoadedCheckpoint<M, C>> {
  if (path.trim() === '') throw new RnnkitError('The checkpoint path is empty: give a checkpoint folder or a run folder.');
  try {
    return await loadCheckpoint(path, kind);
  } catch (err) {
    throw userError(err);
  }
}
