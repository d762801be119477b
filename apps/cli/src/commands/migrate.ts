import { join } from 'node:path';
import { CheckpointError, makeOptimizer, migrateCheckpoint, trainCheckpointMetaOf, type MigratedCheckpoint } from '@rnnkit/training/node';
import { selectBackend, type BackendChoice } from '../backend.js';
import { takeRunFolder } from '../checkpoint.js';
import { RnnkitError, UsageError } from '../errors.js';
import { createReporter, outputMode, versions } from '../progress.js';
import { holdsRun } from './train/run-folder.js';

export interface MigrateCommandOptions {
  /** The checkpoint to copy (a checkpoint folder, a run folder, a model .json). */
  checkpoint: string;
  /** The run folder of the copy: it gets `checkpoint/`. */
  out: string;
  /** Replace a checkpoint already in `out` (never one another live process is writing). */
  force?: boolean;
  backend: BackendChoice;
  json: boolean;
}

export interface MigrateResult extends MigratedCheckpoint {
  /** The verified copy's folder. */
  checkpoint: string;
}

/**
 * `rnnkit migrate`: a verified copy of a checkpoint, for those of rnnkit's first layout, which
 * records no checksums. Every other check applies to the original; the copy is written with
 * SHA-256 checksums, read back with every check and compared weight for weight.
 */
export async function runMigrate(opts: MigrateCommandOptions): Promise<MigrateResult> {
  const reporter = createReporter(outputMode(opts.json));
  const backend = await selectBackend(opts.backend);
  reporter.event('start', { command: 'migrate', backend, versions: versions() });
  if (holdsRun(opts.out) && !opts.force) throw new UsageError(`--out ${opts.out} already holds a run: choose another --out, or replace it with --force.`);
  const lock = await takeRunFolder(opts.out);
  const destination = join(opts.out, 'checkpoint');
  try {
    const result = await migrateCheckpoint(opts.checkpoint, destination, {
      // A language model's optimizer state comes along when its training record names the optimizer.
      optimizer: (training) => {
        const record = trainCheckpointMetaOf(training);
        return record ? makeOptimizer(record.training.optimizer, record.training.lr) : undefined;
      },
    });
    reporter.info(
      `${result.sourceWasVerified ? 'copied' : 'migrated'} ${result.kind} checkpoint (${result.weights.toLocaleString('en')} weights${result.optimizerCopied ? ', optimizer state' : ''}) ` +
        `to ${destination}: written with SHA-256 checksums, read back and compared weight for weight.`,
    );
    reporter.event('done', { ...result, checkpoint: destination });
    return { ...result, checkpoint: destination };
  } catch (err) {
    if (err instanceof CheckpointError) throw new RnnkitError(err.message);
    throw err;
  } finally {
    await lock.release();
  }
}
