// INTERIM until @rnnkit/training's saveLanguageModel/loadLanguageModel land: the CLI's checkpoint
// format as TensorFlow.js model artifacts.
import * as tf from '@tensorflow/tfjs-core';
import { RNNModelScratch, gruCell, lstmCell, rnnCell, type RecurrentLanguageModel } from '@rnnkit/cells';
import { RNNModel } from '@rnnkit/models';
import type { LMConfig, TrainCheckpointMeta } from '@rnnkit/cli';

export type { LMConfig, TrainCheckpointMeta };
const FORMAT = 'rnnkit-checkpoint';
const SCRATCH_CELLS = { rnn: rnnCell, gru: gruCell, lstm: lstmCell };

export function createLanguageModel(config: LMConfig): RecurrentLanguageModel {
  const { model, impl, hidden, layers, bidirectional, vocabSize, seed } = config;
  if (impl === 'scratch') return new RNNModelScratch({ vocabSize, numHiddens: hidden, ...SCRATCH_CELLS[model], seed });
  return new RNNModel({ vocabSize, cell: model, numHiddens: hidden, numLayers: layers, bidirectional, implementation: impl, seed, resetAfter: impl !== 'layers' });
}

export async function toArtifacts(meta: TrainCheckpointMeta, weights: tf.NamedTensorMap): Promise<tf.io.ModelArtifacts> {
  const { data, specs } = await tf.io.encodeWeights(weights);
  return {
    format: FORMAT,
    generatedBy: `TensorFlow.js tfjs-core v${tf.version_core}`,
    convertedBy: null,
    modelTopology: undefined,
    weightSpecs: specs,
    weightData: data,
    userDefinedMetadata: { rnnkit: meta as unknown as {} },
  };
}

export function fromArtifacts(a: tf.io.ModelArtifacts, where: string): { meta: TrainCheckpointMeta; weights: tf.NamedTensorMap } {
  const meta = (a.userDefinedMetadata as { rnnkit?: TrainCheckpointMeta } | undefined)?.rnnkit;
  if (a.format !== FORMAT || !a.weightSpecs || !a.weightData) throw new Error(`${where} is not an rnnkit checkpoint (no rnnkit weights manifest).`);
  if (!meta) throw new Error(`Corrupt checkpoint: ${where} has no rnnkit metadata.`);
  if (meta.kind !== 'language-model' || !meta.config || !meta.vocab) throw new Error(`${where} is not a language-model checkpoint (it holds "${String(meta.kind)}").`);
  const data = a.weightData as ArrayBuffer;
  const expected = a.weightSpecs.reduce((n, w) => n + w.shape.reduce((x, y) => x * y, 1) * 4, 0);
  if (data.byteLength !== expected) throw new Error(`Corrupt checkpoint: ${where} holds ${data.byteLength} bytes of weights, its manifest needs ${expected}.`);
  return { meta, weights: tf.io.decodeWeights(data, a.weightSpecs) };
}

/** model.json + weights.bin, as `rnnkit train` writes them. */
export function artifactsToFiles(a: tf.io.ModelArtifacts): { name: string; data: ArrayBuffer | string; type: string }[] {
  const json = {
    format: a.format,
    generatedBy: a.generatedBy,
    convertedBy: null,
    modelTopology: null,
    weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }],
    userDefinedMetadata: a.userDefinedMetadata,
  };
  return [
    { name: 'model.json', data: JSON.stringify(json), type: 'application/json' },
    { name: 'weights.bin', data: a.weightData as ArrayBuffer, type: 'application/octet-stream' },
  ];
}

export async function artifactsFromFiles(files: File[]): Promise<tf.io.ModelArtifacts> {
  const jsonFile = files.find((f) => f.name === 'model.json') ?? files.find((f) => f.name.endsWith('.json') && !f.name.startsWith('optimizer'));
  if (!jsonFile) throw new Error('Pick the checkpoint\'s model.json together with its weights.bin.');
  let json: { format?: string; weightsManifest?: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[]; userDefinedMetadata?: { [key: string]: {} } };
  try {
    json = JSON.parse(await jsonFile.text());
  } catch {
    throw new Error(`Corrupt checkpoint: ${jsonFile.name} is not valid JSON.`);
  }
  const group = json.weightsManifest?.[0];
  if (json.format !== FORMAT || !group) throw new Error(`${jsonFile.name} is not an rnnkit checkpoint (no rnnkit weights manifest).`);
  const bins = files.filter((f) => f.name.endsWith('.bin') && !f.name.startsWith('optimizer'));
  if (bins.length === 0) throw new Error(`${jsonFile.name} needs its weights file (${group.paths.join(', ')}): pick both files.`);
  const bin = bins.find((f) => group.paths.some((p) => p.endsWith(f.name))) ?? bins[0]!;
  return { format: json.format, weightSpecs: group.weights, weightData: await bin.arrayBuffer(), userDefinedMetadata: json.userDefinedMetadata };
}

export async function artifactsFromUrl(url: string): Promise<tf.io.ModelArtifacts> {
  const modelUrl = url.endsWith('/') ? `${url}model.json` : url;
  let response: Response;
  try {
    response = await fetch(modelUrl);
  } catch (err) {
    throw new Error(`Could not fetch ${modelUrl}: ${(err as Error).message}`);
  }
  if (!response.ok) throw new Error(`Could not fetch ${modelUrl}: HTTP ${response.status}.`);
  const text = await response.text();
  const files = [new File([text], 'model.json')];
  let paths: string[] = [];
  try {
    paths = (JSON.parse(text) as { weightsManifest?: { paths: string[] }[] }).weightsManifest?.[0]?.paths ?? [];
  } catch {
    throw new Error(`Corrupt checkpoint: ${modelUrl} is not valid JSON.`);
  }
  for (const p of paths) {
    const r = await fetch(new URL(p, new URL(modelUrl, self.location.href)));
    if (!r.ok) throw new Error(`Corrupt checkpoint: ${p} next to ${modelUrl} is missing (HTTP ${r.status}).`);
    files.push(new File([await r.arrayBuffer()], p.split('/').pop()!));
  }
  return artifactsFromFiles(files);
}
