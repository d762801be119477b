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
  RunFolderLockedError,
  lockRunFolder,
  type RunFolderLock,
} from '@rnnkit/training/node';
import { RnnkitError } from './errors.js';

// A checkpoint is a folder in TensorFlow.js's own file format, written and checked by
// @rnnkit/training (saveCheckpoint / loadCheckpoint, one kind record per model kind):
// model.json (weights manifest, rnnkit metadata, SHA-256 checksums), weights.bin, and
// optimizer.json/optimizer.bin for resuming.

/** What the command line says about a checkpoint error: the library's message, with the flags that fix it. */
const userError = (err: unknown, path?: string): unknown => {
  if (!(err instanceof CheckpointError)) return err;
  if (err.problem === 'unverified') {
    const where = path ?? err.file;
    return new RnnkitError(
      `${err.file} has rnnkit's first checkpoint layout, which records no checksums: damage or edits to it (another vocabulary, other weights) cannot be detected. ` +
        `Make a verified copy with: rnnkit migrate --checkpoint ${where} --out NEW_FOLDER (then use NEW_FOLDER), or pass --allow-unverified to use it as it is, at that risk.`,
    );
  }
  return new RnnkitError(err.message);
};

/** Options of the commands that read a checkpoint. */
export interface ReadCheckpointOptions {
  /** Builds the optimizer to restore (to resume), from the training record once it is read. */
  optimizer?: (training: unknown) => tf.Optimizer | undefined;
  /** Loads a checkpoint of the old layout without checksums (`--allow-unverified`). */
  allowUnverified?: boolean;
}

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
export async function loadRunCheckpoint(path: string, options: ReadCheckpointOptions = {}): Promise<LoadedLanguageModel> {
  if (path.trim() === '') throw new RnnkitError('The checkpoint path is empty: give a checkpoint folder, a run folder or a model .json file.');
  try {
    return await loadLanguageModel(path, options);
  } catch (err) {
    throw userError(err, path);
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
export async function loadKindCheckpoint<M extends CheckpointModel, C>(
  path: string,
  kind: CheckpointKind<M, C>,
  options: ReadCheckpointOptions = {},
): Promise<LoadedCheckpoint<M, C>> {
  if (path.trim() === '') throw new RnnkitError('The checkpoint path is empty: give a checkpoint folder or a run folder.');
  try {
    return await loadCheckpoint(path, kind, options);
  } catch (err) {
    throw userError(err, path);
  }
}

/** Takes a run folder for this process (see lockRunFolder); another live process writing there is an error that names it. */
export async function takeRunFolder(dir: string): Promise<RunFolderLock> {
  try {
    return await lockRunFolder(dir, { command: `rnnkit ${process.argv.slice(2).join(' ')}` });
  } catch (err) {
    if (err instanceof RunFolderLockedError) throw new RnnkitError(`--out ${err.message}`);
    throw err;
  }
}
