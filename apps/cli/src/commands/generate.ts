import { createRng, preprocessPrefix, type Preprocessing } from '@rnnkit/data';
import { predict } from '@rnnkit/training';
import { selectBackend, type BackendChoice } from '../backend.js';
import { loadRunCheckpoint } from '../checkpoint.js';
import { UsageError } from '../errors.js';
import { createReporter, versions, type Reporter, kernelsInfo, kernelsSummary } from '../progress.js';

export interface GenerateCommandOptions {
  checkpoint: string;
  /** Load a checkpoint of the old layout without checksums (its damage cannot be detected). */
  allowUnverified?: boolean;
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
export async function runGenerate(opts: GenerateCommandOptions, reporter: Reporter = createReporter(opts.json ? 'json' : 'lines')): Promise<GenerateResult> {
  const backend = await selectBackend(opts.backend); // before any tensor exists
  reporter.event('start', { command: 'generate', backend, versions: versions(), kernels: kernelsInfo() });
  // The model, its vocabulary and config, checked (the optimizer files are not read).
  const { model, vocab, training } = await loadRunCheckpoint(opts.checkpoint, { allowUnverified: opts.allowUnverified === true });
  reporter.note(`backend: ${backend} (${kernelsSummary()})`, { json: false });
  // The prefix is preprocessed as the training text was (a page's checkpoint has no record: d2l's).
  const preprocess = (training as { training?: { preprocess?: Preprocessing } } | undefined)?.training?.preprocess ?? 'd2l';
  const prefix = preprocessPrefix(opts.prefix, preprocess);
  if (prefix === '') {
    model.dispose();
    throw new UsageError(
      `--prefix ${JSON.stringify(opts.prefix)} has nothing left after preprocessing (--preprocess ${preprocess}${preprocess === 'd2l' ? ' keeps only a-z' : ' keeps only letters'}): give a prefix with letters.`,
    );
  }
  if (prefix !== opts.prefix)
    reporter.note(`note: the prefix is preprocessed as the training text was (--preprocess ${preprocess}): ${JSON.stringify(prefix)}`, { json: false });
  const mode = opts.temperature !== undefined || opts.topK !== undefined ? 'sample' : 'greedy';
  let out: ReturnType<typeof predict>;
  try {
    out = predict(model, vocab, prefix, opts.length, { mode, temperature: opts.temperature, topK: opts.topK, rng: createRng(opts.seed) });
  } finally {
    model.dispose();
  }
  if (out.unknownTokens.length) {
    reporter.note(
      `note: ${out.unknownTokens.map((t) => JSON.stringify(t)).join(', ')} ${out.unknownTokens.length === 1 ? 'is' : 'are'} not in the vocabulary; fed to the model as <unk>.`,
      { json: false },
    );
  }
  const result: GenerateResult = { text: out.text, unknownTokens: out.unknownTokens, mode };
  reporter.event('done', { ...result });
  return result;
}
