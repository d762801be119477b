// Validating what was read (the same rules for every source and every kind).
import * as tf from '@tensorflow/tfjs-core';
import { Vocab } from '@rnnkit/data';
import {
  CHECKPOINT_FORMAT,
  CheckpointError,
  LAYOUT_VERSION,
  corrupt,
  type CheckpointKind,
  type CheckpointModel,
  type LegacyContents,
  type Spec,
  type VocabularyRule,
} from './format.js';
import { checkIntegrity, type Meta } from './integrity.js';
import { CHECKPOINT_KINDS } from './kinds.js';

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

/** The rnnkit metadata of a model.json (or optimizer.json): the format, an object, a layout this rnnkit reads. */
export function metaOf(art: tf.io.ModelArtifacts, file: string): Meta {
  if (art.format !== undefined && art.format !== CHECKPOINT_FORMAT)
    throw corrupt(file, `is not an rnnkit checkpoint (its format is ${JSON.stringify(art.format)}).`);
  const meta = (art.userDefinedMetadata as { rnnkit?: unknown } | undefined)?.rnnkit;
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) throw corrupt(file, 'has no rnnkit metadata (userDefinedMetadata.rnnkit).');
  const m = meta as Meta;
  if (m.layout !== undefined && m.layout !== LAYOUT_VERSION)
    throw corrupt(file, `has layout ${JSON.stringify(m.layout)}; this rnnkit reads layout ${LAYOUT_VERSION}: update rnnkit.`);
  return m;
}

export const weightData = (art: tf.io.ModelArtifacts) => tf.io.CompositeArrayBuffer.join(art.weightData ?? new ArrayBuffer(0));

const sizeOf = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);
const listOf = (kinds: readonly CheckpointKind[]) => kinds.map((k) => k.description).join(' or ');

/**
 * Checks a vocabulary read from a checkpoint (or about to be saved): it loads, no token is empty
 * or listed twice, d2l's reserved tokens sit right after `<unk>`, a character model's tokens are
 * single characters, the tokens after the reserved ones follow their counts (d2l's order: by
 * descending count, ties first-seen), and its size is the one the config's model needs.
 * `fail` makes the error (a corrupt file when loading, a plain Error when saving).
 */
export function checkVocabulary<C>(json: unknown, rule: VocabularyRule<C>, config: C, key: string, fail: (problem: string) => Error): Vocab {
  let vocab: Vocab;
  try {
    vocab = Vocab.fromJSON(json);
  } catch (err) {
    throw fail(`has a ${key} that does not load (${(err as Error).message}).`);
  }
  const tokens = vocab.idxToToken;
  const first = new Map<string, number>();
  tokens.forEach((t, i) => {
    if (t === '') throw fail(`has an empty token at index ${i} of its ${key}.`);
    const seen = first.get(t);
    if (seen !== undefined) throw fail(`lists the token ${JSON.stringify(t)} twice in its ${key} (indices ${seen} and ${i}).`);
    first.set(t, i);
  });
  rule.reserved.forEach((r, j) => {
    if (tokens[1 + j] !== r) throw fail(`has ${JSON.stringify(tokens[1 + j] ?? null)} at index ${1 + j} of its ${key}, where the reserved token ${r} belongs.`);
  });
  const head = 1 + rule.reserved.length;
  if (rule.characters(config)) {
    for (let i = head; i < tokens.length; i++) {
      const t = tokens[i] as string;
      if (Array.from(t).length !== 1)
        throw fail(`has the token ${JSON.stringify(t)} at index ${i} of its ${key}: a character model's tokens are single characters.`);
    }
  }
  // The order of the tokens follows their counts, as Vocab builds it.
  const freqs = vocab.tokenFreqs;
  const counted = new Set<string>();
  for (let i = 0; i < freqs.length; i++) {
    const [t, n] = freqs[i] as readonly [string, number];
    if (!Number.isInteger(n) || n < 1) throw fail(`gives the token ${JSON.stringify(t)} the count ${n} in its ${key}.`);
    if (counted.has(t)) throw fail(`counts the token ${JSON.stringify(t)} twice in its ${key}.`);
    counted.add(t);
    if (i > 0 && n > (freqs[i - 1] as readonly [string, number])[1]) throw fail(`has its ${key}'s counts out of order at ${JSON.stringify(t)}.`);
  }
  const ranked = freqs.filter(([t]) => (first.get(t) ?? head) >= head);
  for (let i = head; i < tokens.length; i++) {
    const expected = ranked[i - head];
    if (!expected || expected[0] !== tokens[i]) {
      throw fail(
        `has ${JSON.stringify(tokens[i])} at index ${i} of its ${key}, which its counts put ${expected ? `after ${JSON.stringify(expected[0])}` : 'nowhere'}: the vocabulary was edited.`,
      );
    }
  }
  const kept = tokens.length - head;
  if (kept > 0 && kept < ranked.length && (ranked[kept] as readonly [string, number])[1] >= (ranked[kept - 1] as readonly [string, number])[1]) {
    throw fail(`leaves ${JSON.stringify((ranked[kept] as readonly [string, number])[0])} out of its ${key} though it is counted as often as a token it keeps.`);
  }
  const size = config[rule.size];
  if (vocab.size !== size) throw fail(`has a vocabulary of ${vocab.size} tokens but config.${rule.size} ${String(size)}${key === 'vocab' ? '' : ` (${key})`}.`);
  return vocab;
}

/** What a checkpoint's model.json holds, checked and built. */
export interface BuiltCheckpoint {
  kind: CheckpointKind;
  model: CheckpointModel;
  config: unknown;
  vocabularies: Record<string, Vocab>;
  training?: unknown;
  /** The SHA-256 of the weights (null for an unverified old layout). */
  weightsDigest: string | null;
  verified: boolean;
}

/** What the metadata holds, by kind, and whether its checksums were checked. */
async function contentsOf(
  art: tf.io.ModelArtifacts,
  raw: Meta,
  data: ArrayBuffer,
  kinds: readonly CheckpointKind[],
  files: { json: string; weights: string },
  allowUnverified: boolean,
): Promise<{ kind: CheckpointKind; contents: LegacyContents; verified: boolean }> {
  if (raw.layout === undefined) {
    // The layouts written before checksums: nothing can be verified, so only on request.
    const legacy = raw.integrity === undefined && raw.kind !== 'optimizer' ? CHECKPOINT_KINDS.find((k) => k.upgradeLegacy?.(raw) !== undefined) : undefined;
    if (!legacy) throw corrupt(files.json, 'has no layout version in its rnnkit metadata.');
    if (!kinds.includes(legacy)) throw wrongKind(files.json, legacy.description, kinds);
    if (!allowUnverified) {
      throw new CheckpointError(
        files.json,
        `Unverified checkpoint: ${files.json} has rnnkit's first layout, which records no checksums, so damage or edits (another vocabulary, other weights) cannot be detected. Make a verified copy with migrateCheckpoint (rnnkit migrate), or allow unverified checkpoints to load it as it is.`,
        'unverified',
      );
    }
    return { kind: legacy, contents: legacy.upgradeLegacy?.(raw) as LegacyContents, verified: false };
  }
  const kind = kinds.find((k) => k.name === raw.kind);
  if (!kind) {
    const other = CHECKPOINT_KINDS.find((k) => k.name === raw.kind);
    if (other) throw wrongKind(files.json, other.description, kinds);
    throw corrupt(files.json, `holds ${JSON.stringify(raw.kind ?? null)}, not ${listOf(kinds)}.`);
  }
  await checkIntegrity(art, raw, data, files);
  const vocabularies = Object.fromEntries(Object.keys(kind.vocabularies).map((key) => [key, raw[key]]));
  return { kind, contents: { config: raw.config, vocabularies, training: raw.training }, verified: true };
}

const wrongKind = (file: string, holds: string, kinds: readonly CheckpointKind[]) =>
  new CheckpointError(file, `${file} holds ${holds}, not ${listOf(kinds)}.`, 'wrong-kind');

/**
 * Checks a checkpoint's model.json and weights and builds its model: the format and layout, the
 * checksums (or, for an old layout, the caller's permission), the config, the vocabularies, the
 * weight count the config implies (before anything is built), finite weights, and weights in the
 * model's own order with its shapes and types.
 */
export async function buildCheckpoint(
  art: tf.io.ModelArtifacts,
  kinds: readonly CheckpointKind[],
  files: { json: string; weights: string },
  options: { allowUnverified?: boolean } = {},
): Promise<BuiltCheckpoint> {
  const raw = metaOf(art, files.json);
  if (raw.kind === 'optimizer')
    throw new CheckpointError(files.json, `${files.json} holds optimizer state, not ${listOf(kinds)}: load its model.json.`, 'wrong-kind');
  const data = weightData(art);
  const specs = art.weightSpecs ?? [];
  checkSpecs(specs as unknown[], files.json);
  checkSize(specs, data, files);
  const { kind, contents, verified } = await contentsOf(art, raw, data, kinds, files, options.allowUnverified === true);
  let config: unknown;
  try {
    config = kind.checkConfig(contents.config);
  } catch (err) {
    throw corrupt(files.json, `does not describe ${kind.description}: ${(err as Error).message}`);
  }
  const fail = (problem: string) => corrupt(files.json, problem);
  const vocabularies: Record<string, Vocab> = {};
  for (const [key, rule] of Object.entries(kind.vocabularies)) {
    const json = contents.vocabularies[key];
    if (json === undefined) {
      if (rule.optional) continue;
      throw fail(`has no ${key}.`);
    }
    vocabularies[key] = checkVocabulary(json, rule, config, key, fail);
  }
  // Before anything is built: a config that asks for more weights than the files hold is refused here.
  const expected = kind.weightCount(config);
  const stored = specs.reduce((n, s) => n + sizeOf(s.shape), 0);
  if (expected !== stored) throw fail(`describes ${kind.description} of ${expected} weights, but its weight list holds ${stored}.`);
  const weights = decode(art, data, files);
  let model: CheckpointModel;
  try {
    model = kind.build(config);
  } catch (err) {
    tf.dispose(Object.values(weights));
    throw fail(`does not describe ${kind.description}: ${(err as Error).message}`);
  }
  try {
    assignInOrder(model.namedVariables(), specs, weights, files.json);
  } catch (err) {
    model.dispose();
    throw err;
  } finally {
    tf.dispose(Object.values(weights));
  }
  return { kind, model, config, vocabularies, training: contents.training, weightsDigest: verified ? (raw.integrity?.weights ?? null) : null, verified };
}

/** Assigns the weights, which must list the model's variables in the model's order, with their shapes and types. */
function assignInOrder(variables: Record<string, tf.Variable>, specs: Spec[], weights: tf.NamedTensorMap, file: string): void {
  const names = Object.keys(variables);
  const listed = specs.map((s) => s.name);
  if (names.join('\n') !== listed.join('\n')) {
    const sameSet = names.length === listed.length && [...names].sort().join('\n') === [...listed].sort().join('\n');
    throw corrupt(
      file,
      sameSet
        ? `lists its weights in another order than the model's (${listed.join(', ')}; the model's: ${names.join(', ')}).`
        : `does not fit its model (the model has [${names.join(', ')}], the file [${listed.join(', ')}]).`,
    );
  }
  specs.forEach((s) => {
    const v = variables[s.name] as tf.Variable;
    if (s.shape.join() !== v.shape.join() || s.dtype !== v.dtype) {
      throw corrupt(
        file,
        `does not fit its model (the weight ${s.name} is ${s.dtype} [${s.shape.join(', ')}], the model's ${v.dtype} [${v.shape.join(', ')}]).`,
      );
    }
  });
  for (const s of specs) (variables[s.name] as tf.Variable).assign(weights[s.name] as tf.Tensor);
}
