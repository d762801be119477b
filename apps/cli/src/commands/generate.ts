import { Vocab, createRng } from '@rnnkit/data';
import { predict } from '@rnnkit/training';
import * as tf from '@tensorflow/tfjs-core';
import { selectBackend, type BackendChoice } from '../backend.js';
import { loadCheckpoint, restoreWeights } from '../checkpoint.js';
import { RnnkitError } from '../errors.js';
import { createLanguageModel } from '../lm.js';
import type { TrainCheckpointMeta } from './train.js';

export interface GenerateCommandOptions {
  checkpoint: string;
  prefix: string;
  length: number;
  /** Sampling temperature; given (or topK given) switches from greedy to sampling. */
  temperature?: number;
  topK?: number;
  seed: number;
  backend: BackendChoice;
  json: boolean;
}

export interface GenerateResult {
  text: string;
  unknownTokens: string[];
  mode: 'greedy' | 'sample';
}

/** `rnnkit generate`: loads a checkpoint and continues a prefix (d2l `predict_ch8`, or sampling). */
export async function runGenerate(opts: GenerateCommandOptions, log: (line: string) => void = (l) => process.stderr.write(`${l}\n`)): Promise<GenerateResult> {
  const backend = await selectBackend(opts.backend); // before any tensor exists
  const ckpt = await loadCheckpoint<TrainCheckpointMeta>(opts.checkpoint);
  const meta = ckpt.metadata;
  if (meta.kind !== 'language-model' || !meta.config || !meta.vocab) throw new RnnkitError(`Corrupt checkpoint: ${ckpt.dir} does not describe a language model.`);
  let vocab: Vocab;
  try {
    vocab = Vocab.fromJSON(meta.vocab);
  } catch (err) {
    throw new RnnkitError(`Corrupt checkpoint: its vocabulary does not load (${(err as Error).message}).`);
  }
  if (!opts.json) log(`backend: ${backend}`);
  const model = createLanguageModel(meta.config);
  restoreWeights(model.namedVariables(), ckpt);
  tf.dispose(ckpt.optimizerWeights.map((w) => w.tensor));
  const mode = opts.temperature !== undefined || opts.topK !== undefined ? 'sample' : 'greedy';
  const out = predict(model, vocab, opts.prefix, opts.length, { mode, temperature: opts.temperature, topK: opts.topK, rng: createRng(opts.seed) });
  model.dispose();
  if (out.unknownTokens.length && !opts.json) {
    log(`note: ${out.unknownTokens.map((t) => JSON.stringify(t)).join(', ')} ${out.unknownTokens.length === 1 ? 'is' : 'are'} not in the vocabulary; fed to the model as <unk>.`);
  }
  return { text: out.text, unknownTokens: out.unknownTokens, mode };
}
