import { createRng } from '@rnnkit/data';
import { predict } from '@rnnkit/training';
import { selectBackend, type BackendChoice } from '../backend.js';
import { loadRunCheckpoint } from '../checkpoint.js';

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
  // The model, its vocabulary and config, checked (the optimizer files are not read).
  const { model, vocab } = await loadRunCheckpoint(opts.checkpoint);
  if (!opts.json) log(`backend: ${backend}`);
  const mode = opts.temperature !== undefined || opts.topK !== undefined ? 'sample' : 'greedy';
  const out = predict(model, vocab, opts.prefix, opts.length, { mode, temperature: opts.temperature, topK: opts.topK, rng: createRng(opts.seed) });
  model.dispose();
  if (out.unknownTokens.length && !opts.json) {
    log(`note: ${out.unknownTokens.map((t) => JSON.stringify(t)).join(', ')} ${out.unknownTokens.length === 1 ? 'is' : 'are'} not in the vocabulary; fed to the model as <unk>.`);
  }
  return { text: out.text, unknownTokens: out.unknownTokens, mode };
}
