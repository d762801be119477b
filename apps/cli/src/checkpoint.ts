import { existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { assignVariables } from '@rnnkit/cells';
import { RnnkitError } from './errors.js';

/** `{ name, tensor }` as `tf.Optimizer.getWeights()` returns it. */
type NamedTensor = { name: string; tensor: tf.Tensor };

/**
 * A checkpoint is a folder in TensorFlow.js's own file format: `model.json` (a `weightsManifest`
 * pointing at `weights.bin`, readable by `tf.io` in Node and in browsers) with rnnkit's
 * metadata in `userDefinedMetadata`, plus `optimizer.json`/`optimizer.bin` in the same format
 * for resuming.
 */
export interface Checkpoint<M> {
  metadata: M;
  weights: tf.NamedTensorMap;
  optimizerWeights: NamedTensor[];
}

const FORMAT = 'rnnkit-checkpoint';

async function writeArtifacts(dir: string, stem: string, tensors: tf.NamedTensorMap | NamedTensor[], extra: Record<string, unknown>): Promise<void> {
  const { data, specs } = await tf.io.encodeWeights(tensors);
  const bin = `${stem === 'model' ? 'weights' : stem}.bin`;
  const json = {
    format: FORMAT,
    generatedBy: `TensorFlow.js tfjs-core v${tf.version_core}`,
    convertedBy: null,
    modelTopology: null,
    weightsManifest: [{ paths: [bin], weights: specs }],
    ...extra,
  };
  await writeFile(join(dir, bin), new Uint8Array(data as ArrayBuffer));
  await writeFile(join(dir, `${stem}.json`), JSON.stringify(json));
}

/**
 * Writes the whole folder next to `dir`, then swaps it in with renames, so a crash mid-write
 * leaves the previous checkpoint (or none), never a broken one.
 */
export async function saveCheckpoint<M>(dir: string, checkpoint: Checkpoint<M>): Promise<void> {
  const parent = dirname(dir);
  await mkdir(parent, { recursive: true });
  const tmp = join(parent, `.${basename(dir)}.tmp-${process.pid}`);
  const old = join(parent, `.${basename(dir)}.old-${process.pid}`);
  await rm(tmp, { recursive: true, force: true });
  await mkdir(tmp);
  await writeArtifacts(tmp, 'model', checkpoint.weights, { userDefinedMetadata: { rnnkit: checkpoint.metadata } });
  await writeArtifacts(tmp, 'optimizer', checkpoint.optimizerWeights, {});
  if (existsSync(dir)) await rename(dir, old);
  await rename(tmp, dir);
  await rm(old, { recursive: true, force: true });
}

async function readArtifacts(dir: string, stem: string): Promise<{ json: Record<string, unknown>; tensors: tf.NamedTensorMap }> {
  const path = join(dir, `${stem}.json`);
  let json: Record<string, unknown>;
  try {
    json = JSON.parse(await readFile(path, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new RnnkitError(code === 'ENOENT' ? `No checkpoint at ${dir}: ${stem}.json is missing.` : `Corrupt checkpoint: ${path} is not valid JSON.`);
  }
  const manifest = json.weightsManifest as { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[] | undefined;
  const group = manifest?.[0];
  if (json.format !== FORMAT || !group || !Array.isArray(group.paths) || !Array.isArray(group.weights)) {
    throw new RnnkitError(`Corrupt checkpoint: ${path} is not an rnnkit checkpoint (no weightsManifest).`);
  }
  const buffers = await Promise.all(
    group.paths.map(async (p) => {
      try {
        return await readFile(join(dir, p));
      } catch {
        throw new RnnkitError(`Corrupt checkpoint: ${join(dir, p)} is missing.`);
      }
    }),
  );
  const data = Buffer.concat(buffers);
  const expected = group.weights.reduce((n, w) => n + w.shape.reduce((a, b) => a * b, 1) * 4, 0);
  if (data.byteLength !== expected) {
    throw new RnnkitError(`Corrupt checkpoint: ${join(dir, group.paths[0] ?? '')} holds ${data.byteLength} bytes, the manifest needs ${expected}.`);
  }
  const tensors = tf.io.decodeWeights(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength), group.weights);
  return { json, tensors };
}

/** Reads a checkpoint folder (or a run folder holding `checkpoint/`); clear errors for missing or corrupt files. */
export async function loadCheckpoint<M>(dir: string): Promise<Checkpoint<M> & { dir: string }> {
  const resolved = existsSync(join(dir, 'checkpoint', 'model.json')) ? join(dir, 'checkpoint') : dir;
  if (!existsSync(resolved)) throw new RnnkitError(`No checkpoint at ${dir}: the folder does not exist.`);
  const model = await readArtifacts(resolved, 'model');
  const metadata = (model.json.userDefinedMetadata as { rnnkit?: M } | undefined)?.rnnkit;
  if (!metadata) throw new RnnkitError(`Corrupt checkpoint: ${join(resolved, 'model.json')} has no rnnkit metadata.`);
  const optimizer = existsSync(join(resolved, 'optimizer.json')) ? await readArtifacts(resolved, 'optimizer') : null;
  const order = optimizer ? ((optimizer.json.weightsManifest as { weights: { name: string }[] }[])[0]?.weights ?? []).map((w) => w.name) : [];
  return {
    dir: resolved,
    metadata,
    weights: model.tensors,
    optimizerWeights: optimizer ? order.map((name) => ({ name, tensor: optimizer.tensors[name] as tf.Tensor })) : [],
  };
}

/** Loads a checkpoint's weights into a model's variables, then frees the loaded tensors. */
export function restoreWeights(variables: Record<string, tf.Variable>, checkpoint: Checkpoint<unknown> & { dir: string }): void {
  try {
    assignVariables(variables, checkpoint.weights);
  } catch (err) {
    throw new RnnkitError(`Corrupt checkpoint: ${checkpoint.dir} does not fit its model (${(err as Error).message})`);
  } finally {
    tf.dispose(Object.values(checkpoint.weights));
  }
}
