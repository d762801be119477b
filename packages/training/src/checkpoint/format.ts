// The checkpoint format's names and types, its error, and where string paths are saved and loaded.
// This folder uses no Node built-ins: the file-system part lives in ../node.ts.
import * as tf from '@tensorflow/tfjs-core';
import type { RecurrentLanguageModel } from '@rnnkit/cells';
import type { Vocab } from '@rnnkit/data';
import type { LanguageModelConfig } from '@rnnkit/models';

/** `model.json`'s `format`: what tells an rnnkit checkpoint from other TensorFlow.js models. */
export const CHECKPOINT_FORMAT = 'rnnkit-checkpoint';
/** Version of the `userDefinedMetadata.rnnkit` layout (1: the CLI's first layout, with no checksums). */
export const LAYOUT_VERSION = 2;

/** Where a checkpoint goes or comes from: a TensorFlow.js IO handler or a URL string. */
export type CheckpointDestination = string | tf.io.IOHandler;
/**
 * `string`: `indexeddb://`, `localstorage://`, `http(s)://` URLs and, in Node with
 * `@rnnkit/training/node`, a folder, a `model.json` path or a `file://` URL. Browser `File`s: the
 * `.json` file and the weight files it names (optimizer files too, to resume).
 */
export type CheckpointSource = string | tf.io.IOHandler | ArrayLike<File>;

/** What a checkpoint holds a model of: anything with named variables (in a documented order) to save. */
export interface CheckpointModel {
  /** The weights by name, in the order the model documents; a checkpoint stores them in this order. */
  namedVariables(): Record<string, tf.Variable>;
  dispose(): void;
}

/** How a checkpoint kind checks one of its vocabularies. */
export interface VocabularyRule<C> {
  /** The config field that holds the number of tokens the model needs (its embedding or output rows). */
  size: keyof C & string;
  /** Whether every token but `<unk>` and `reserved` is one character (a Unicode code point): char-level models. */
  characters(config: C): boolean;
  /** The tokens right after `<unk>`, in order (d2l's `reserved_tokens`); `[]` for none. */
  reserved: readonly string[];
  /** The checkpoint may leave this vocabulary out (a model trained on ids). Default false. */
  optional?: boolean;
}

/**
 * One kind of model a checkpoint can hold: the one place that says how its config is checked, how
 * many weights it has and how it is built. Every kind gets the same file format and checks
 * (checksums, finite weights, contained paths, vocabularies, weights in the model's order).
 */
export interface CheckpointKind<M extends CheckpointModel = CheckpointModel, C = unknown> {
  /** `userDefinedMetadata.rnnkit.kind` in model.json. */
  readonly name: string;
  /** What messages call it: "a language model". */
  readonly description: string;
  /**
   * Checks a config read from a file, field by field, and returns it typed (with defaults filled
   * in); throws an Error naming the first bad field and the values it takes.
   */
  checkConfig(config: unknown): C;
  /** The number of weights (floats) the config's model has: checked against the files before the model is built. */
  weightCount(config: C): number;
  /** Builds the model a checked config describes, with fresh weights. */
  build(config: C): M;
  /** The vocabularies stored beside the config, by their key in the metadata (`vocab`; `sourceVocab`...). */
  readonly vocabularies: Readonly<Record<string, VocabularyRule<C>>>;
  /**
   * Reads the metadata of a checkpoint written before checksums existed (no `layout`) as
   * `{ config, vocabularies, training }`; undefined when it is not this kind's old layout.
   */
  upgradeLegacy?(meta: Record<string, unknown>): LegacyContents | undefined;
}

/** What an old (unverified) layout holds, in today's terms. */
export interface LegacyContents {
  config: unknown;
  vocabularies: Record<string, unknown>;
  training?: unknown;
}

/** What `saveCheckpoint` stores. */
export interface Checkpoint<M extends CheckpointModel = CheckpointModel, C = unknown> {
  model: M;
  config: C;
  /** The kind's vocabularies, by name (those marked optional may be left out). */
  vocabularies?: Record<string, Vocab>;
  /** Saved too, so training can continue exactly (Adam included). */
  optimizer?: tf.Optimizer;
  /** Any JSON the caller needs to resume (epoch, data-loader state, history...). */
  training?: unknown;
}

export interface SaveCheckpointOptions {
  /**
   * Where the optimizer's state goes when the destination is an IO handler object. A string
   * destination derives it: the same folder (`optimizer.json`), or `<url>.optimizer`.
   */
  optimizerDestination?: CheckpointDestination;
}

export interface LoadCheckpointOptions {
  /**
   * Restores the saved optimizer state into this optimizer (of the same class as the saved
   * one), exactly, Adam's running beta powers included; a function builds it from the saved
   * training record first (returning undefined: no optimizer for this record). Without it the
   * optimizer files are not read at all.
   */
  optimizer?: tf.Optimizer | ((training: unknown) => tf.Optimizer | undefined);
  /** Where the optimizer's state is when the source is an IO handler object. */
  optimizerSource?: CheckpointSource;
  /** What error messages call an IO handler object source (default "the checkpoint"). */
  name?: string;
  /**
   * Loads a checkpoint of the old layout that has no checksums, whose damage or edits (another
   * vocabulary, other weights) cannot be detected. Default false: such a checkpoint is refused
   * (`CheckpointError` with problem `'unverified'`); `migrateCheckpoint` writes a verified copy.
   */
  allowUnverified?: boolean;
}

/** What `loadCheckpoint` gives. */
export interface LoadedCheckpoint<M extends CheckpointModel = CheckpointModel, C = unknown> {
  /** The kind it holds. */
  kind: CheckpointKind<M, C>;
  /** Built from `config` with the saved weights; the caller disposes it. */
  model: M;
  config: C;
  vocabularies: Record<string, Vocab>;
  training?: unknown;
  /** `options.optimizer` (the one built, when it was a function). */
  optimizer?: tf.Optimizer;
  /** Whether `optimizer` got saved state (false: the checkpoint has none). */
  optimizerRestored: boolean;
  /** False for an old checkpoint without checksums, loaded with `allowUnverified`. */
  verified: boolean;
  /** Where it was read from (for messages): a leftover of a crashed save when the folder itself failed. */
  source: string;
  /** Why newer copies (left by crashed saves) were passed over, newest first; absent when none were. */
  skipped?: string[];
}

/** What `saveLanguageModel` stores. */
export interface LanguageModelCheckpoint {
  model: RecurrentLanguageModel;
  vocab: Vocab;
  config: LanguageModelConfig;
  /** Saved too, so training can continue exactly (Adam included). */
  optimizer?: tf.Optimizer;
  /** Any JSON the caller needs to resume (epoch, data-loader state, history...). */
  training?: unknown;
}

export type SaveLanguageModelOptions = SaveCheckpointOptions;
export type LoadLanguageModelOptions = LoadCheckpointOptions;

export interface LoadedLanguageModel {
  /** Built from `config` with the saved weights; the caller disposes it. */
  model: RecurrentLanguageModel;
  vocab: Vocab;
  config: LanguageModelConfig;
  training?: unknown;
  /** `options.optimizer` (the one built, when it was a function). */
  optimizer?: tf.Optimizer;
  /** Whether `optimizer` got saved state (false: the checkpoint has none). */
  optimizerRestored: boolean;
  /** False for an old checkpoint without checksums, loaded with `allowUnverified`. */
  verified: boolean;
  /** Where it was read from (for messages): a leftover of a crashed save when the folder itself failed. */
  source: string;
  /** Why newer copies (left by crashed saves) were passed over, newest first; absent when none were. */
  skipped?: string[];
}

/**
 * Why a checkpoint was refused: damaged or edited (`corrupt`), not there (`missing`), not readable
 * (`unreadable`: permissions, a special file, too large), of another kind (`wrong-kind`), or of
 * the old layout without checksums (`unverified`); or a save that failed (`unwritable`: a full
 * disk, permissions).
 */
export type CheckpointProblem = 'corrupt' | 'missing' | 'unreadable' | 'wrong-kind' | 'unverified' | 'unwritable';

/** A bad or unreadable checkpoint file; the message names the file and the problem. */
export class CheckpointError extends Error {
  constructor(
    /** The file (path or URL) at fault. */
    readonly file: string,
    message: string,
    readonly problem: CheckpointProblem = 'corrupt',
  ) {
    super(message);
    this.name = 'CheckpointError';
  }
}

export const corrupt = (file: string, problem: string) => new CheckpointError(file, `Corrupt checkpoint: ${file} ${problem}`);

export type Spec = tf.io.WeightsManifestEntry;

export function artifactsOf(specs: Spec[], data: ArrayBuffer, rnnkit: Record<string, unknown>): tf.io.ModelArtifacts {
  return {
    format: CHECKPOINT_FORMAT,
    generatedBy: `TensorFlow.js tfjs-core v${tf.version_core}`,
    convertedBy: null,
    modelTopology: null as unknown as object,
    weightSpecs: specs,
    weightData: data,
    userDefinedMetadata: { rnnkit },
  };
}

/** One file of a checkpoint folder. */
export interface CheckpointFile {
  name: string;
  bytes: Uint8Array;
}

/**
 * Where string paths go in this environment: `@rnnkit/training/node` installs a file system for
 * folders, `model.json` paths and `file://` URLs. Browsers have none.
 */
export interface CheckpointFileSystem {
  /** Writes the files as one complete folder at `path` (crash-safe: never a half-written folder). */
  writeFolder(path: string, files: CheckpointFile[]): Promise<void>;
  /** Opens a folder, a run folder holding `checkpoint/`, or a `.json` file. */
  open(path: string): Promise<{ reader: CheckpointFileReader; modelJson: string }>;
  /**
   * Every complete checkpoint a path may mean, newest first (the folder and what crashed saves
   * left of it); loading takes the first that passes every check. Without it, `open`'s only.
   */
  candidates?(path: string): Promise<{ reader: CheckpointFileReader; modelJson: string }[]>;
}

let fileSystem: CheckpointFileSystem | null = null;

/** Installs where string paths that are not URLs are saved and loaded (Node: `@rnnkit/training/node`). */
export function setCheckpointFileSystem(fs: CheckpointFileSystem | null): void {
  fileSystem = fs;
}

const SCHEME = /^([a-z][a-z0-9+.-]*):\/\//i;
export const isFileLike = (s: string) => !SCHEME.test(s) || /^file:\/\//i.test(s);

export function needFileSystem(path: string): CheckpointFileSystem {
  if (!fileSystem) {
    throw new Error(
      `${JSON.stringify(path)} is a file path, and this environment has no file system for checkpoints: in Node, import from '@rnnkit/training/node'; in a browser, use an indexeddb://, downloads:// or http(s):// URL, or File objects.`,
    );
  }
  return fileSystem;
}

/** Reads the files of one checkpoint folder, by name relative to it. */
export interface CheckpointFileReader {
  /** How messages name a file of the checkpoint (its full path or URL). */
  describe(file: string): string;
  /**
   * The file's bytes, or undefined when it does not exist. Throws a `CheckpointError` naming
   * the file when it exists but cannot be read (permissions...).
   */
  read(file: string): Promise<Uint8Array | undefined>;
  /**
   * The error for a file the checkpoint names that `read` did not find, where that is not damage
   * (files the user chose: one was left out); by default "Corrupt checkpoint: ... is missing".
   */
  missing?(file: string): CheckpointError;
}

export function isIOHandler(x: unknown): x is tf.io.IOHandler {
  return typeof x === 'object' && x !== null && (typeof (x as tf.io.IOHandler).load === 'function' || typeof (x as tf.io.IOHandler).save === 'function');
}
