import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { assignVariables } from '@rnnkit/cells';
import { writeFileAtomic } from '@rnnkit/data';
import { CHECKPOINT_FORMAT } from '@rnnkit/training/node';
import { RnnkitError } from './errors.js';

// A translation checkpoint: the folder layout of `rnnkit train`'s (model.json with a TensorFlow.js
// weights manifest and rnnkit's metadata, then weights.bin), without an optimizer. model.json is
// written last, so a folder that has one is complete.

/** Writes `weights` and `metadata` (with `kind`) to the folder `dir`. */
export async function saveTranslationCheckpoint(dir: string, weights: tf.NamedTensorMap, metadata: { kind: string } & Record<string, unknown>): Promise<void> {
  const { data, specs } = await tf.io.encodeWeights(weights);
  await writeFileAtomic(join(dir, 'weights.bin'), new Uint8Array(tf.io.CompositeArrayBuffer.join(data as ArrayBuffer)));
  const json = {
    format: CHECKPOINT_FORMAT,
    generatedBy: `TensorFlow.js tfjs-core v${tf.version_core}`,
    convertedBy: null,
    modelTopology: null,
    weightsManifest: [{ paths: ['weights.bin'], weights: specs }],
    userDefinedMetadata: { rnnkit: metadata },
  };
  await writeFileAtomic(join(dir, 'model.json'), JSON.stringify(json));
}

/** Reads a checkpoint folder (or a run folder holding `checkpoint/`) of `kind`; clear errors for anything else. */
export async function loadTranslationCheckpoint<M extends { kind: string }>(
  path: string,
  kind: M['kind'],
): Promise<{ dir: string; metadata: M; weights: tf.NamedTensorMap }> {
  const dir = existsSync(join(path, 'checkpoint', 'model.json')) ? join(path, 'checkpoint') : path;
  const jsonFile = join(dir, 'model.json');
  let json: { format?: string; weightsManifest?: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[]; userDefinedMetadata?: { rnnkit?: M } };
  try {
    json = JSON.parse(await readFile(jsonFile, 'utf8'));
  } catch (err) {
    throw new RnnkitError(
      (err as NodeJS.ErrnoException).code === 'ENOENT'
        ? `No checkpoint at ${path}: ${jsonFile} is missing.`
        : `Corrupt checkpoint: ${jsonFile} is not valid JSON.`,
    );
  }
  const metadata = json.userDefinedMetadata?.rnnkit;
  const group = json.weightsManifest?.[0];
  if (json.format !== CHECKPOINT_FORMAT || !metadata || !group) throw new RnnkitError(`Corrupt checkpoint: ${jsonFile} is not an rnnkit checkpoint.`);
  if (metadata.kind !== kind) throw new RnnkitError(`${dir} is not a ${kind} checkpoint (it holds a ${String(metadata.kind)}).`);
  let bytes: Buffer;
  try {
    bytes = await readFile(join(dir, group.paths[0] ?? 'weights.bin'));
  } catch {
    throw new RnnkitError(`Corrupt checkpoint: ${join(dir, group.paths[0] ?? 'weights.bin')} is missing.`);
  }
  const expected = group.weights.reduce((n, w) => n + w.shape.reduce((a, b) => a * b, 1) * 4, 0);
  if (bytes.byteLength !== expected)
    throw new RnnkitError(`Corrupt checkpoint: ${dir}'s weights hold ${bytes.byteLength} bytes, the manifest needs ${expected}.`);
  const weights = tf.io.decodeWeights(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer, group.weights);
  return { dir, metadata, weights };
}

/** Loads checkpoint weights into variables, then frees them. */
export function restoreTranslationWeights(variables: Record<string, tf.Variable>, checkpoint: { dir: string; weights: tf.NamedTensorMap }): void {
  try {
    assignVariables(variables, checkpoint.weights);
  } catch (err) {
    throw new RnnkitError(`Corrupt checkpoint: ${checkpoint.dir} does not fit its model (${(err as Error).message})`);
  } finally {
    tf.dispose(Object.values(checkpoint.weights));
  }
}
