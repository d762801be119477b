// A verified copy of a checkpoint: how checkpoints of the layout without checksums move on.
import * as tf from '@tensorflow/tfjs-core';
import type { CheckpointDestination, CheckpointKind, CheckpointSource, LoadCheckpointOptions } from './format.js';
import { loadAnyCheckpoint, loadCheckpoint } from './load.js';
import { saveCheckpoint } from './save.js';

export interface MigrateCheckpointOptions {
  /**
   * Builds the optimizer the checkpoint's optimizer state belongs to, from its training record, so
   * the copy can resume training; without it (or when the checkpoint has no optimizer files) the
   * copy holds the model only (also when it returns undefined for the record it is given).
   */
  optimizer?: (training: unknown) => tf.Optimizer | undefined;
  /** What error messages call an IO handler object source. */
  name?: string;
}

export interface MigratedCheckpoint {
  /** The kind of model it holds (`language-model`, `translation`...). */
  kind: string;
  /** Whether the source had checksums already (then the copy is a plain verified copy). */
  sourceWasVerified: boolean;
  /** Whether the optimizer state came along. */
  optimizerCopied: boolean;
  /** How many weights the copy holds (each read back and compared with the source). */
  weights: number;
}

/**
 * Writes a verified copy of a checkpoint: loads it, old layout without checksums included (every
 * other check still applies: finite weights, the vocabularies, the weight count and order), saves
 * it in today's layout with SHA-256 checksums at `destination`, then loads the copy with every
 * check and compares its weights with the source's, value for value.
 */
export async function migrateCheckpoint(
  source: CheckpointSource,
  destination: CheckpointDestination,
  options: MigrateCheckpointOptions = {},
): Promise<MigratedCheckpoint> {
  const loadOptions: LoadCheckpointOptions = { allowUnverified: true, ...(options.name ? { name: options.name } : {}) };
  const loaded = await loadAnyCheckpoint(source, options.optimizer ? { ...loadOptions, optimizer: options.optimizer } : loadOptions);
  const optimizer = loaded.optimizerRestored ? loaded.optimizer : undefined;
  try {
    await saveCheckpoint(destination, loaded.kind, {
      model: loaded.model,
      config: loaded.config,
      vocabularies: loaded.vocabularies,
      ...(optimizer ? { optimizer } : {}),
      ...(loaded.training !== undefined ? { training: loaded.training } : {}),
    });
    if (typeof destination !== 'string') return summary(loaded.kind, loaded.verified, optimizer !== undefined, loaded.model.namedVariables());
    const copy = await loadCheckpoint(destination, loaded.kind as CheckpointKind);
    try {
      const a = loaded.model.namedVariables();
      const b = copy.model.namedVariables();
      for (const [name, v] of Object.entries(a)) {
        const same = tf.tidy(() => tf.all(tf.equal(v, b[name] as tf.Variable)).dataSync()[0] === 1);
        if (!same)
          throw new Error(
            `migrateCheckpoint: the copy at ${String(destination)} differs from ${copy.source} in the weight ${name}; it was not written correctly.`,
          );
      }
      return summary(loaded.kind, loaded.verified, optimizer !== undefined, a);
    } finally {
      copy.model.dispose();
    }
  } finally {
    loaded.model.dispose();
    loaded.optimizer?.dispose();
  }
}

function summary(kind: CheckpointKind, verified: boolean, optimizerCopied: boolean, variables: Record<string, tf.Variable>): MigratedCheckpoint {
  return { kind: kind.name, sourceWasVerified: verified, optimizerCopied, weights: Object.values(variables).reduce((n, v) => n + v.size, 0) };
}
