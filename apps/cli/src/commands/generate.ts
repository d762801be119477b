import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createRng, describeEncoding, encodePrefix, joinTokens } from '@rnnkit/data';
import { generate, predict, textEncodingOf, type Prediction } from '@rnnkit/training';
import { selectBackend, type BackendChoice } from '../backend.js';
import { loadRunCheckpoint } from '../checkpoint.js';
import { UsageError } from '../errors.js';
import { createReporter, versions, type Reporter, kernelsInfo, kernelsSummary } from '../progress.js';

export interface GenerateCommandOptions {
  checkpoint: string;
  /** Load a checkpoint of the old layout without checksums (its damage cannot be detected). */
  allowUnverified?: boolean;
  /** Default: the prefix the run's samples used, or "time traveller". */
  prefix?: string;
  length: number;
  /** Sampling temperature; given (or topK given) switches from greedy to sampling. */
  temperature?: number;
  topK?: number;
  seed: number;
  /** Print each token as it is made (JSON: a `token` event each). */
  stream?: boolean;
  backend: BackendChoice;
  json: boolean;
}

export interface GenerateResult {
  text: string;
  unknownTokens: string[];
  mode: 'greedy' | 'sample';
}

/** The checkpoint a --checkpoint path means: a run folder's checkpoint-best/ when it has one (a run with validation), else the path itself. */
function checkpointPath(path: string): { path: string; best: boolean } {
  const best = join(path, 'checkpoint-best');
  return existsSync(join(best, 'model.json')) ? { path: best, best: true } : { path, best: false };
}

/** `rnnkit generate`: loads a checkpoint and continues a prefix (d2l `predict_ch8`, or sampling), all at once or streamed. */
export async function runGenerate(opts: GenerateCommandOptions, reporter: Reporter = createReporter(opts.json ? 'json' : 'lines')): Promise<GenerateResult> {
  const backend = await selectBackend(opts.backend); // before any tensor exists
  reporter.event('start', { command: 'generate', backend, versions: versions(), kernels: kernelsInfo() });
  const where = checkpointPath(opts.checkpoint);
  // The model, its vocabulary and config, checked (the optimizer files are not read).
  const loaded = await loadRunCheckpoint(where.path, { allowUnverified: opts.allowUnverified === true });
  const { model, vocab, training } = loaded;
  reporter.note(`backend: ${backend} (${kernelsSummary()})`, { json: false });
  if (where.best) reporter.note(`note: ${where.path} holds the run's best epoch; give ${join(opts.checkpoint, 'checkpoint')} for its latest.`, { json: false });
  // The prefix goes through what the training text went through (recorded in the checkpoint).
  const text = textEncodingOf(loaded);
  const prefix = opts.prefix ?? (training as { training?: { prefix?: string } } | undefined)?.training?.prefix ?? 'time traveller';
  const encoded = encodePrefix(prefix, vocab, text);
  if (encoded.tokens.length === 0) {
    model.dispose();
    throw new UsageError(`--prefix ${JSON.stringify(prefix)} has nothing left after preprocessing (${describeEncoding(text)}): give a prefix with letters.`);
  }
  if (encoded.text !== prefix) {
    const flags = `--preprocess ${text.preprocess}${text.tokens === 'word' ? ', --tokens word' : ''}`;
    reporter.note(`note: the prefix is preprocessed as the training text was (${flags}): ${JSON.stringify(encoded.text)}`, { json: false });
  }
  if (encoded.unknownTokens.length) {
    reporter.note(
      `note: ${encoded.unknownTokens.map((t) => JSON.stringify(t)).join(', ')} ${encoded.unknownTokens.length === 1 ? 'is' : 'are'} not in the vocabulary; fed to the model as <unk>.`,
      { json: false },
    );
  }
  const mode = opts.temperature !== undefined || opts.topK !== undefined ? 'sample' : 'greedy';
  const options = { mode, temperature: opts.temperature, topK: opts.topK, rng: createRng(opts.seed), text } as const;
  let out: Pick<Prediction, 'text' | 'unknownTokens'>;
  try {
    if (opts.stream) {
      const stream = generate(model, vocab, prefix, { ...options, length: opts.length });
      const head = joinTokens(encoded.tokens, text);
      if (opts.json) reporter.event('prefix', { text: head });
      else process.stdout.write(head);
      let previous = encoded.tokens.at(-1);
      for await (const token of stream) {
        // Words come with the space that joins them (none around a line break), as in the whole text.
        const joined = text.tokens === 'word' && previous !== '\n' && token !== '\n' ? ` ${token}` : token;
        previous = token;
        if (opts.json) reporter.event('token', { token });
        else process.stdout.write(joined);
      }
      if (!opts.json) process.stdout.write('\n');
      out = { text: stream.text, unknownTokens: [...stream.unknownTokens] };
    } else {
      out = predict(model, vocab, prefix, opts.length, options);
    }
  } finally {
    model.dispose();
  }
  const result: GenerateResult = { text: out.text, unknownTokens: out.unknownTokens, mode };
  reporter.event('done', { ...result });
  return result;
}
