// The fuzz harness the per-kind checkpoint fuzz tests share (a test helper, not exported by the
// package). Each case copies a saved checkpoint, damages it with one mutation and loads it: the
// load must give exactly the original's outputs and vocabulary tokens (a harmless change), or be
// refused with a message naming a file of the checkpoint. Silent wrong outputs and unnamed
// messages are counted; the tests require both to be 0, and each load has a time limit.
// Edits that are re-signed (the checksums recomputed) test the checks that do not rely on the
// checksums; a re-signed edit that leaves a valid checkpoint (another class-name list, another
// seed) is a forgery, which checksums cannot tell from a save, so outputs and tokens are what count.
import { createHash } from 'node:crypto';
import { cpSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type * as tf from '@tensorflow/tfjs-core';
import { createRng, type Rng } from '@rnnkit/data';
import { loadCheckpoint, type CheckpointKind, type CheckpointModel, type LoadedCheckpoint } from './node.js';
import { manifestText } from './checkpoint/integrity.js';

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** model.json as the mutations see it. */
export interface ModelJson {
  weightsManifest: { paths: string[]; weights: tf.io.WeightsManifestEntry[] }[];
  userDefinedMetadata: { rnnkit: Record<string, Json> };
  [k: string]: Json | unknown;
}

/** What a mutation works on: the case's checkpoint folder, a generator, another run's checkpoint. */
export interface MutationContext {
  folder: string;
  rng: Rng;
  /** A checkpoint of the same kind and config, of another run (another seed). */
  another: string;
  readJson(): ModelJson;
  writeJson(json: ModelJson): void;
  readBin(): Buffer;
  writeBin(bytes: Uint8Array): void;
  /** Recomputes the checksums, as a writer that edits and re-signs would. */
  resign(json: ModelJson, bin?: Uint8Array): void;
}

/** One kind of damage; returns what it did, for the report. */
export interface Mutation {
  name: string;
  apply(ctx: MutationContext): string;
  /** Load with `allowUnverified` (the edits that must be caught even when checksums are off). */
  allowUnverified?: boolean;
}

export interface FuzzCounts {
  cases: number;
  harmless: number;
  refusedNamingFile: number;
  silentWrong: number;
  unnamed: number;
  hung: number;
}

const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex');

export function resign(json: ModelJson, bin?: Uint8Array): void {
  const meta = json.userDefinedMetadata.rnnkit as Record<string, Json> & { integrity?: { weights: string; manifest: string } };
  const { integrity } = meta;
  if (!integrity) return;
  // The loader's own definition of the manifest, hashed synchronously.
  integrity.manifest = sha256(
    manifestText(
      meta,
      json.weightsManifest.flatMap((g) => g.weights),
    ),
  );
  if (bin) integrity.weights = sha256(bin);
}

/** A named edit of rnnkit's metadata with the checksums re-signed: a writer that signs its own wrong output. */
export const resignedEdit = (name: string, edit: (meta: Record<string, unknown>) => void): Mutation => ({
  name,
  apply(ctx) {
    const json = ctx.readJson();
    edit(json.userDefinedMetadata.rnnkit as Record<string, unknown>);
    ctx.resign(json);
    ctx.writeJson(json);
    return name;
  },
});

/** Every (container, key) pair of a JSON tree. */
function slots(node: Json, out: [Json[] | { [k: string]: Json }, string | number][] = []) {
  if (Array.isArray(node)) {
    node.forEach((v, i) => {
      out.push([node, i]);
      slots(v, out);
    });
  } else if (node && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      out.push([node, k]);
      slots(v, out);
    }
  }
  return out;
}

/** One random edit of a JSON value: what a hand edit or a buggy writer does. */
export function editJson(json: Json, rng: Rng): string {
  const all = slots(json);
  const [container, key] = all[rng.int(0, all.length - 1)]!;
  const c = container as Record<string | number, Json>;
  const value = c[key] as Json;
  const edits: (() => string)[] = [
    () => {
      if (Array.isArray(container)) container.splice(key as number, 1);
      else delete c[key];
      return `delete ${key}`;
    },
    () => {
      c[key] = typeof value === 'number' ? value + 1 : typeof value === 'string' ? `${value}x` : typeof value === 'boolean' ? !value : 0;
      return `nudge ${key}`;
    },
    () => {
      c[key] = typeof value === 'number' ? -value : null;
      return `negate/null ${key}`;
    },
    () => {
      c[key] = typeof value === 'string' ? value.slice(0, -1) : typeof value === 'number' ? value * 2 : 'x';
      return `shorten/double ${key}`;
    },
    () => {
      c[key] = Array.isArray(value) ? [...value].reverse() : [value];
      return `reverse/wrap ${key}`;
    },
  ];
  return edits[rng.int(0, edits.length - 1)]!();
}

/** The damage every kind gets: flipped bytes, truncations, random JSON edits, non-finite weights, paths outside, another run's weights, the checksums stripped. */
export const COMMON_MUTATIONS: Record<string, Mutation> = {
  flipWeights: {
    name: 'flip a bit of weights.bin',
    apply(ctx) {
      const bytes = ctx.readBin();
      const at = ctx.rng.int(0, bytes.length - 1);
      bytes[at]! ^= 1 << ctx.rng.int(0, 7);
      ctx.writeBin(bytes);
      return `flip weights.bin at ${at}`;
    },
  },
  flipJson: {
    name: 'flip a bit of model.json',
    apply(ctx) {
      const file = join(ctx.folder, 'model.json');
      const bytes = readFileSync(file);
      const at = ctx.rng.int(0, bytes.length - 1);
      bytes[at]! ^= 1 << ctx.rng.int(0, 7);
      writeFileSync(file, bytes);
      return `flip model.json at ${at}`;
    },
  },
  truncate: {
    name: 'truncate a file',
    apply(ctx) {
      const name = ctx.rng.next() < 0.5 ? 'weights.bin' : 'model.json';
      const bytes = readFileSync(join(ctx.folder, name));
      const length = ctx.rng.int(0, bytes.length - 1);
      writeFileSync(join(ctx.folder, name), bytes.subarray(0, length));
      return `truncate ${name} to ${length}`;
    },
  },
  editJson: {
    name: 'a random edit of model.json',
    apply(ctx) {
      const json = ctx.readJson();
      const what = editJson(json as unknown as Json, ctx.rng);
      ctx.writeJson(json);
      return `edit model.json: ${what}`;
    },
  },
  editJsonResigned: {
    name: 'a random edit of the metadata, re-signed',
    apply(ctx) {
      const json = ctx.readJson();
      const { integrity, ...rest } = json.userDefinedMetadata.rnnkit;
      const what = editJson(rest as Json, ctx.rng);
      json.userDefinedMetadata.rnnkit = { ...rest, ...(integrity ? { integrity } : {}) };
      ctx.resign(json);
      ctx.writeJson(json);
      return `edit the metadata and re-sign: ${what}`;
    },
  },
  nonFinite: {
    name: 'a NaN or infinite weight, re-signed',
    apply(ctx) {
      const bytes = ctx.readBin();
      const values = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
      const at = ctx.rng.int(0, values.length - 1);
      const bad = [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY][ctx.rng.int(0, 2)]!;
      values[at] = bad;
      const json = ctx.readJson();
      ctx.resign(json, bytes);
      ctx.writeJson(json);
      ctx.writeBin(bytes);
      return `weight ${at} = ${bad}, re-signed`;
    },
  },
  pathOutside: {
    name: 'a manifest path outside the folder, re-signed',
    apply(ctx) {
      const outside = ['../../../outside.bin', '/etc/hostname', '../weights.bin', 'sub/weights.bin', 'file:///etc/hostname', '..'][ctx.rng.int(0, 5)]!;
      writeFileSync(join(ctx.folder, '..', 'outside.bin'), ctx.readBin());
      const json = ctx.readJson();
      json.weightsManifest[0]!.paths = [outside];
      ctx.resign(json);
      ctx.writeJson(json);
      return `path ${outside}`;
    },
  },
  anotherRunsWeights: {
    name: "another run's weights.bin",
    apply(ctx) {
      ctx.writeBin(readFileSync(join(ctx.another, 'weights.bin')));
      return "another run's weights.bin";
    },
  },
  stripChecksums: {
    name: 'layout and checksums deleted',
    apply(ctx) {
      const json = ctx.readJson();
      delete json.userDefinedMetadata.rnnkit.layout;
      delete json.userDefinedMetadata.rnnkit.integrity;
      ctx.writeJson(json);
      return 'layout and integrity deleted';
    },
  },
  reorderSpecsResigned: {
    name: 'two weight specs swapped (bytes too), re-signed',
    apply(ctx) {
      const json = ctx.readJson();
      const specs = json.weightsManifest[0]!.weights;
      const i = ctx.rng.int(0, specs.length - 2);
      const j = ctx.rng.int(i + 1, specs.length - 1);
      // Move the bytes with their specs: the file stays self-consistent, only the order changes.
      const bin = ctx.readBin();
      const sizes = specs.map((s) => s.shape.reduce((a, b) => a * b, 1) * 4);
      const starts = sizes.map((_, k) => sizes.slice(0, k).reduce((a, b) => a + b, 0));
      const parts = specs.map((_, k) => bin.subarray(starts[k]!, starts[k]! + sizes[k]!));
      [specs[i], specs[j]] = [specs[j]!, specs[i]!];
      [parts[i], parts[j]] = [parts[j]!, parts[i]!];
      const out = Buffer.concat(parts);
      ctx.resign(json, out);
      ctx.writeJson(json);
      ctx.writeBin(out);
      return `specs ${i} and ${j} swapped with their bytes, re-signed`;
    },
  },
};

/**
 * Vocabulary edits. Those the checks catch by themselves (two tokens swapped against their counts,
 * a duplicate, an empty token, a two-character token in a character model) run re-signed and with
 * the checksums off under `allowUnverified`: both must be refused. Every edit, the consistent ones
 * included (two tokens swapped with their counts: a vocabulary as valid as the original), runs
 * with the checksums off and the default load: refused as unverified. (A consistent edit that is
 * re-signed is a forgery, not damage: checksums are not signatures, so it is not a case here.)
 */
export function vocabularyMutations(key: string, { characters }: { characters: boolean }): Mutation[] {
  type V = { idxToToken: string[]; tokenFreqs: [string, number][] };
  type Variant = 'resigned' | 'unverified-allowed' | 'checksums-off';
  const edit = (name: string, change: (v: V, rng: Rng) => string, variant: Variant): Mutation => ({
    name: `${key}: ${name} (${variant})`,
    allowUnverified: variant === 'unverified-allowed',
    apply(ctx) {
      const json = ctx.readJson();
      const v = json.userDefinedMetadata.rnnkit[key] as unknown as V;
      const what = change(v, ctx.rng);
      if (variant === 'resigned') ctx.resign(json);
      else {
        delete json.userDefinedMetadata.rnnkit.layout;
        delete json.userDefinedMetadata.rnnkit.integrity;
        toLegacy(json);
      }
      ctx.writeJson(json);
      return `${key}: ${what} (${variant})`;
    },
  });
  // Two tokens of different counts (their order follows the counts).
  const pair = (v: V, rng: Rng): [number, number] => {
    const idx = new Map(v.idxToToken.map((t, i) => [t, i]));
    for (let tries = 0; tries < 100; tries++) {
      const a = rng.int(0, v.tokenFreqs.length - 2);
      const b = rng.int(a + 1, v.tokenFreqs.length - 1);
      const [ta, na] = v.tokenFreqs[a]!;
      const [tb, nb] = v.tokenFreqs[b]!;
      if (na !== nb && idx.has(ta) && idx.has(tb)) return [idx.get(ta)!, idx.get(tb)!];
    }
    return [1, 2];
  };
  const caught: [string, (v: V, rng: Rng) => string][] = [
    [
      'two tokens swapped',
      (v, rng) => {
        const [i, j] = pair(v, rng);
        [v.idxToToken[i], v.idxToToken[j]] = [v.idxToToken[j]!, v.idxToToken[i]!];
        return `tokens ${i} and ${j} swapped`;
      },
    ],
    [
      'a duplicate token',
      (v, rng) => {
        const i = rng.int(1, v.idxToToken.length - 1);
        const j = rng.int(1, v.idxToToken.length - 1);
        v.idxToToken[i] = v.idxToToken[j === i ? (i % (v.idxToToken.length - 1)) + 1 : j]!;
        return `token ${i} duplicated`;
      },
    ],
    [
      'an empty token',
      (v, rng) => {
        const i = rng.int(1, v.idxToToken.length - 1);
        const t = v.idxToToken[i];
        v.idxToToken[i] = '';
        for (const f of v.tokenFreqs) if (f[0] === t) f[0] = '';
        return `token ${i} emptied`;
      },
    ],
    ...(characters
      ? ([
          [
            'a two-character token',
            (v: V, rng: Rng) => {
              const i = rng.int(1, v.idxToToken.length - 1);
              const t = `${v.idxToToken[i]}q`;
              for (const f of v.tokenFreqs) if (f[0] === v.idxToToken[i]) f[0] = t;
              v.idxToToken[i] = t;
              return `token ${i} made ${JSON.stringify(t)}`;
            },
          ],
        ] as [string, (v: V, rng: Rng) => string][])
      : []),
  ];
  const consistent: [string, (v: V, rng: Rng) => string] = [
    'two tokens swapped with their counts',
    (v, rng) => {
      const [i, j] = pair(v, rng);
      const [ti, tj] = [v.idxToToken[i]!, v.idxToToken[j]!];
      [v.idxToToken[i], v.idxToToken[j]] = [tj, ti];
      for (const f of v.tokenFreqs) f[0] = f[0] === ti ? tj : f[0] === tj ? ti : f[0];
      return `tokens ${i} and ${j} swapped, counts too`;
    },
  ];
  return [
    ...caught.flatMap(([name, change]) => [edit(name, change, 'resigned'), edit(name, change, 'unverified-allowed'), edit(name, change, 'checksums-off')]),
    edit(...consistent, 'checksums-off'),
  ];
}

/** The tokens of each vocabulary, for fingerprints (the counts change no output). */
export const tokensOf = (vocabularies: Record<string, { idxToToken: readonly string[] }>) =>
  JSON.stringify(Object.fromEntries(Object.entries(vocabularies).map(([k, v]) => [k, v.idxToToken])));

/** Turns the metadata into the first layout of its kind (without checksums; it loads when allowed), for the kinds that had one. */
export function toLegacy(json: ModelJson): void {
  const meta = json.userDefinedMetadata.rnnkit;
  if (meta.kind === 'translation') {
    const { config, sourceVocab, targetVocab, training } = meta;
    json.userDefinedMetadata.rnnkit = {
      kind: 'translation',
      model: config!,
      srcVocab: sourceVocab!,
      tgtVocab: targetVocab!,
      ...((training as Record<string, Json>) ?? {}),
    };
    return;
  }
  if (meta.kind !== 'language-model') return;
  const c = meta.config as Record<string, Json>;
  meta.config = {
    model: c.cell!,
    impl: c.implementation!,
    hidden: c.numHiddens!,
    layers: c.numLayers!,
    bidirectional: c.bidirectional!,
    vocabSize: c.vocabSize!,
    seed: c.seed!,
  };
  const training = meta.training as Record<string, Json> | undefined;
  delete meta.training;
  Object.assign(meta, training ?? {});
}

/** A fingerprint of a loaded checkpoint: its outputs on fixed inputs and its vocabularies, bit for bit. */
export type Fingerprint<M extends CheckpointModel, C> = (loaded: LoadedCheckpoint<M, C>) => string;

/** Hex of a float array's bytes. */
export const hexOf = (values: Float32Array | Int32Array) => Buffer.from(values.buffer, values.byteOffset, values.byteLength).toString('hex');

const TIME_LIMIT_MS = 10_000;

/**
 * Runs `cases` (one mutation each, drawn in order) against copies of `original`, with the seed
 * `seed`; returns the counts and the problems (silent wrong outputs, unnamed messages, hangs).
 */
export async function fuzzCheckpoints<M extends CheckpointModel, C>(options: {
  kind: CheckpointKind<M, C>;
  original: string;
  another: string;
  workDir: string;
  seed: number;
  cases: Mutation[];
  fingerprint: Fingerprint<M, C>;
}): Promise<{ counts: FuzzCounts; problems: string[] }> {
  const { kind, original, another, workDir, fingerprint } = options;
  const rng = createRng(options.seed);
  const reference = await loadCheckpoint(original, kind).then((l) => {
    const f = fingerprint(l);
    l.model.dispose();
    return f;
  });
  const counts: FuzzCounts = { cases: 0, harmless: 0, refusedNamingFile: 0, silentWrong: 0, unnamed: 0, hung: 0 };
  const problems: string[] = [];
  for (const [i, mutation] of options.cases.entries()) {
    const folder = join(workDir, `case-${i}`, 'checkpoint');
    cpSync(original, folder, { recursive: true });
    const ctx: MutationContext = {
      folder,
      rng,
      another,
      readJson: () => JSON.parse(readFileSync(join(folder, 'model.json'), 'utf8')) as ModelJson,
      writeJson: (json) => writeFileSync(join(folder, 'model.json'), JSON.stringify(json)),
      readBin: () => readFileSync(join(folder, 'weights.bin')),
      writeBin: (bytes) => writeFileSync(join(folder, 'weights.bin'), bytes),
      resign,
    };
    const what = mutation.apply(ctx);
    counts.cases++;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const limit = new Promise<'hung'>((resolve) => {
      timer = setTimeout(() => resolve('hung'), TIME_LIMIT_MS);
    });
    try {
      const loaded = await Promise.race([loadCheckpoint(folder, kind, { allowUnverified: mutation.allowUnverified === true }), limit]);
      if (loaded === 'hung') {
        counts.hung++;
        problems.push(`hung: ${what}`);
      } else {
        const same = fingerprint(loaded) === reference;
        loaded.model.dispose();
        if (same) counts.harmless++;
        else {
          counts.silentWrong++;
          problems.push(`silent wrong: ${what}`);
        }
      }
    } catch (err) {
      const message = (err as Error).message;
      if (message.includes(folder)) counts.refusedNamingFile++;
      else {
        counts.unnamed++;
        problems.push(`unnamed: ${what}: ${message}`);
      }
    } finally {
      clearTimeout(timer);
    }
    rmSync(join(workDir, `case-${i}`), { recursive: true, force: true });
  }
  return { counts, problems };
}

/** The case list: `n` cases drawn round-robin from weighted groups, so every mutation runs. */
export function caseList(groups: [Mutation[], number][]): Mutation[] {
  return groups.flatMap(([mutations, n]) => Array.from({ length: n }, (_, i) => mutations[i % mutations.length]!));
}
