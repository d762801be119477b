/** Messages between the page (main.ts) and the training worker (worker.ts). */
import type { Preprocessing, TokenKind } from '@rnnkit/data';

import type { CellKind } from '@rnnkit/models/cell-kinds';

export interface TrainSettings {
  cell: CellKind;
  hidden: number;
  epochs: number;
  lr: number;
  /** d2l's `max_tokens`: the first N tokens of the corpus (0: all). */
  maxTokens: number;
  /** What each line keeps: d2l's a-z, every letter, or every character (line breaks too). */
  preprocess: Preprocessing;
  tokens: TokenKind;
  /** Words seen fewer times become `<unk>`. */
  minFreq: number;
  /** The last share of the corpus held out for validation perplexity (0: none). */
  valFraction: number;
  /** Stop when validation perplexity has not improved for this many epochs (needs validation). */
  patience?: number;
  /** Epochs between greedy samples. */
  sampleEvery: number;
  /** What the samples continue; empty: "time traveller" on The Time Machine, the corpus' first words otherwise. */
  prefix: string;
  seed: number;
}

export type CorpusChoice = { kind: 'timemachine' } | { kind: 'file'; name: string; bytes: ArrayBuffer };

export type CheckpointSource = { kind: 'indexeddb' } | { kind: 'files'; files: File[] } | { kind: 'url'; url: string };

export interface GenerateSettings {
  prefix: string;
  length: number;
  /** Unset with topK unset: greedy (d2l `predict_ch8`). */
  temperature?: number;
  topK?: number;
  seed: number;
}

export type Request =
  | { type: 'init' }
  | { type: 'train'; corpus: CorpusChoice; settings: TrainSettings }
  | { type: 'continue'; epochs: number }
  | { type: 'stop' }
  | { type: 'generate'; settings: GenerateSettings }
  | { type: 'stop-generate' }
  | { type: 'attach-corpus'; corpus: CorpusChoice & { kind: 'file' } }
  | { type: 'save' }
  | { type: 'export' }
  | { type: 'load'; source: CheckpointSource }
  | { type: 'import-pytorch'; files: File[] }
  | { type: 'export-model'; format: 'onnx' | 'safetensors' }
  | { type: 'saved-info' };

export interface BackendInfo {
  backend: string;
  simd: boolean;
  relaxedSimd: boolean;
  /** Threads of tfjs-wasm's threaded build (1: the single-threaded build). */
  threads: number;
  /** Threads of rnnkit's kernels (the fused recurrences and matmuls): more than 1 where cross-origin isolated. */
  kernelThreads: number;
  cores: number;
  crossOriginIsolated: boolean;
}

export interface ModelSummary {
  describe: string;
  cell: CellKind;
  hidden: number;
  vocabSize: number;
  epoch: number;
  /** Total epochs asked for; `epoch < epochs` means Continue has work to do. */
  epochs: number;
  corpus: string;
  history: EpochPoint[];
  /** Whether this model can go on training here (its corpus is loaded). */
  canContinue: boolean;
  /** A model trained on a file that is not loaded here: choosing that file again (same SHA-256) lets it train on. */
  needsCorpus?: { name: string; sha256: string };
  /** How its text becomes tokens, in words ("d2l's a-z, lower-cased; words; ..."). */
  text: string;
  tokens: TokenKind;
  /** What its samples continue. */
  prefix: string;
  /** With validation: the best epoch. */
  best?: { epoch: number; validationPerplexity: number };
  /** Whether patience ended the last training (the model holds the best epoch's weights again). */
  earlyStopped?: boolean;
}

export interface EpochPoint {
  epoch: number;
  perplexity: number;
  tokensPerSecond: number;
  seconds: number;
  validationPerplexity?: number;
}

export interface GenerateResult {
  text: string;
  unknownTokens: string[];
  /** The prefix as the model saw it (preprocessed as its training text was). */
  prefix: string;
  /** True when Stop ended it before its length. */
  stopped: boolean;
}

/** A checkpoint as files, for the page to download (a worker has no `document`). */
export interface CheckpointFile {
  name: string;
  data: ArrayBuffer | string;
  type: string;
}

/** What an import of a PyTorch (or ONNX) file found. */
export interface ImportedModel {
  summary: ModelSummary;
  /** "gru.safetensors (safetensors): GRU (PyTorch's reset-after), 1 layer, 256 hidden, vocabulary 28". */
  describe: string;
  /** Where the vocabulary came from. */
  vocabulary: string;
}

export type WorkerEvent =
  | { type: 'epoch'; point: EpochPoint; epochs: number }
  | { type: 'sample'; epoch: number; text: string }
  | {
      type: 'corpus';
      name: string;
      /** Tokens used, of `total` in the text; `validation` of them held out. */
      tokens: number;
      total: number;
      validation: number;
      unit: 'characters' | 'words';
      vocabSize: number;
      prefix: string;
      /** Whether the prefix was chosen from the corpus (not given). */
      prefixChosen: boolean;
    }
  | { type: 'generated'; text: string };

export type Reply = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: string };

export type FromWorker = ({ kind: 'event' } & WorkerEvent) | ({ kind: 'reply' } & Reply);
