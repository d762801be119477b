// Validating what was read (the same rules for every source).
import * as tf from '@tensorflow/tfjs-core';
import { assignVariables, type RecurrentLanguageModel } from '@rnnkit/cells';
import { Vocab, type VocabJSON } from '@rnnkit/data';
import { checkLanguageModelConfig, createLanguageModel, type LanguageModelConfig } from '@rnnkit/models';
import { CHECKPOINT_FORMAT, LAYOUT_VERSION, corrupt, type LoadedLanguageModel, type Spec } from './format.js';
import { checkIntegrity, type Meta } from './integrity.js';
import { upgradeLegacy } from './legacy.js';

const DTYPE_BYTES: Record<string, number> = { float32: 4, int32: 4 };

export function checkSpecs(specs: unknown[], file: string): asserts specs is Spec[] {
  const seen = new Set<string>();
  for (const s of specs) {
    const spec = s as Partial<Spec> | null;
    if (!spec || typeof spec.name !== 'string') throw corrupt(file, 'has a weight without a name in its weightsManifest.');
    if (seen.has(spec.name)) throw corrupt(file, `lists the weight ${spec.name} twice.`);
    seen.add(spec.name);
    if (!Array.isArray(spec.shape) || !spec.shape.every((d) => Number.isInteger(d) && d >= 0 && d < 2 ** 31)) {
      throw corrupt(file, `gives the weight ${spec.name} a bad shape ${JSON.stringify(spec.shape)}.`);
    }
    if (spec.quantization !== undefined) throw corrupt(file, `stores the weight ${spec.name} quantized; rnnkit checkpoints hold plain float32 weights.`);
    if (typeof spec.dtype !== 'string' || !(spec.dtype in DTYPE_BYTES))
      throw corrupt(file, `gives the weight ${spec.name} the type ${JSON.stringify(spec.dtype)}; rnnkit checkpoints hold float32 and int32 only.`);
    for (const key of Object.keys(spec)) {
      if (!['name', 'shape', 'dtype'].includes(key)) throw corrupt(file, `gives the weight ${spec.name} an unknown field "${key}".`);
    }
  }
}

export function checkSize(specs: Spec[], data: ArrayBuffer, files: { json: string; weights: string }): void {
  const expected = specs.reduce((n, w) => n + w.shape.reduce((a, b) => a * b, 1) * (DTYPE_BYTES[w.dtype] ?? 4), 0);
  if (data.byteLength !== expected) throw corrupt(files.weights, `holds ${data.byteLength} bytes, the manifest needs ${expected}.`);
}

export function decode(art: tf.io.ModelArtifacts, data: ArrayBuffer, files: { json: string; weights: string }): tf.NamedTensorMap {
  const specs = art.weightSpecs ?? [];
  checkSize(specs, data, files);
  // Checked before any tensor exists, so a bad file leaks nothing.
  let offset = 0;
  for (const w of specs) {
    const size = w.shape.reduce((a, b) => a * b, 1);
    if (w.dtype === 'float32') {
      const values = new Float32Array(data, offset, size);
      for (let i = 0; i < size; i++) {
        if (!Number.isFinite(values[i] as number)) throw corrupt(files.weights, `holds a non-finite value (${values[i]}) in the weight ${w.name}.`);
      }
    }
    offset += size * 4;
  }
  return tf.io.decodeWeights(data, specs);
}

export function metaOf(art: tf.io.ModelArtifacts, file: string, kind: 'language-model' | 'optimizer'): Meta {
  if (art.format !== undefined && art.format !== CHECKPOINT_FORMAT)
    throw corrupt(file, `is not an rnnkit checkpoint (its format is ${JSON.stringify(art.format)}).`);
  const meta = (art.userDefinedMetadata as { rnnkit?: unknown } | undefined)?.rnnkit;
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) throw corrupt(file, 'has no rnnkit metadata (userDefinedMetadata.rnnkit).');
  const m = meta as Meta;
  if (kind === 'optimizer' ? m.kind !== 'optimizer' : m.kind !== undefined && m.kind !== 'language-model') {
    throw corrupt(file, `holds ${JSON.stringify(m.kind)}, not ${kind === 'optimizer' ? 'optimizer state' : 'a language model'}.`);
  }
  if (m.layout !== undefined && m.layout !== LAYOUT_VERSION)
    throw corrupt(file, `has layout ${JSON.stringify(m.layout)}; this rnnkit reads layout ${LAYOUT_VERSION}: update rnnkit.`);
  return m;
}

export const weightData = (art: tf.io.ModelArtifacts) => tf.io.CompositeArrayBuffer.join(art.weightData ?? new ArrayBuffer(0));

export async function buildModel(
  art: tf.io.ModelArtifacts,
  files: { json: string; weights: string },
): Promise<Omit<LoadedLanguageModel, 'optimizerRestored' | 'source'> & { weightsDigest?: string }> {
  const raw = metaOf(art, files.json, 'language-model');
  const data = weightData(art);
  checkSpecs((art.weightSpecs ?? []) as unknown[], files.json);
  checkSize(art.weightSpecs ?? [], data, files);
  await checkIntegrity(art, raw, data, files);
  const meta = upgradeLegacy(raw);
  let config: LanguageModelConfig;
  try {
    config = checkLanguageModelConfig(meta.config);
  } catch (err) {
    throw corrupt(files.json, `does not describe a language model: ${(err as Error).message}`);
  }
  let vocab: Vocab;
  try {
    vocab = Vocab.fromJSON(meta.vocab as VocabJSON);
  } catch (err) {
    throw corrupt(files.json, `has a vocabulary that does not load (${(err as Error).message}).`);
  }
  if (vocab.size !== config.vocabSize) throw corrupt(files.json, `has a vocabulary of ${vocab.size} tokens but config.vocabSize ${config.vocabSize}.`);
  const weights = decode(art, data, files);
  let model: RecurrentLanguageModel;
  try {
    model = createLanguageModel(config);
  } catch (err) {
    tf.dispose(Object.values(weights));
    throw corrupt(files.json, `does not describe a language model: ${(err as Error).message}`);
  }
  try {
    assignVariables(model.namedVariables(), weights);
  } catch (err) {
    model.dispose();
    throw corrupt(files.json, `does not fit its model (${(err as Error).message})`);
  } finally {
    tf.dispose(Object.values(weights));
  }
  return { model, vocab, config, training: meta.training, weightsDigest: raw.integrity?.weights };
}
