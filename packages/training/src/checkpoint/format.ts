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

export interface SaveLanguageModelOptions {
  /**
   * Where the optimizer's state goes when the destination is an IO handler object. A string
   * destination derives it: the same folder (`optimizer.json`), or `<url>.optimizer`.
   */
  optimizerDestination?: CheckpointDestination;
}

export interface LoadLanguageModelOptions {
  /**
   * Restores the saved optimizer state into this optimizer (of the same class as the saved
   * one), exactly, Adam's running beta powers included; a function builds it from the saved
   * training record first. Without it the optimizer files are not read at all.
   */
  optimizer?: tf.Optimizer | ((training: unknown) => tf.Optimizer);
  /** Where the optimizer's state is when the source is an IO handler object. */
  optimizerSource?: CheckpointSource;
  /** What error messages call an IO handler object source (default "the checkpoint"). */
  name?: string;
}

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
  /** Where it was read from (for messages). */
  source: string;
}

/** A bad or unreadable checkpoint file; the message names the file and the problem. */
export class CheckpointError extends Error {
  constructor(
    /** The file (path or URL) at fault. */
    readonly file: string,
    message: string,
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
}

export function isIOHandler(x: unknown): x is tf.io.IOHandler {
  return typeof x === 'object' && x !== null && (typeof (x as tf.io.IOHandler).load === 'function' || typeof (x as tf.io.IOHandler).save === 'function');
}
