import { createHash, randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { keptFraction, preprocessText, tokenize, type Preprocessing, type TokenKind } from './text.js';
import { Vocab } from './vocab.js';

/** d2l's download address and SHA-1 of The Time Machine. */
export const TIME_MACHINE_URL = 'http://d2l-data.s3-accelerate.amazonaws.com/timemachine.txt';
export const TIME_MACHINE_SHA1 = '090b5e7e70c295757f55df93cb0a180b9691891a';
/** The environment variable that points rnnkit at a local copy of The Time Machine. */
export const TIME_MACHINE_ENV = 'RNNKIT_TIMEMACHINE';

/** How to point rnnkit at a local copy; `hint` names the caller's own way to pass a file. */
function howToPass(hint = '(or pass { path } in code)'): string {
  return `Set ${TIME_MACHINE_ENV}=/path/to/timemachine.txt ${hint} to use a local copy.`;
}

/** Where to find The Time Machine; each field overrides the default of the same step. */
export interface TimeMachineSource {
  /** An explicit file: used as is (no hash check, so an edited copy works). */
  path?: string;
  /** Environment to read `RNNKIT_TIMEMACHINE` and `XDG_CACHE_HOME` from. Default `process.env`. */
  env?: Record<string, string | undefined>;
  /** Cache folder. Default `$XDG_CACHE_HOME/rnnkit` or `~/.cache/rnnkit`. */
  cacheDir?: string;
  /** Download address. Default d2l's. */
  url?: string;
  /** Expected SHA-1 of the download and cache. Default d2l's. */
  sha1?: string;
  /** `false` to fail instead of downloading. */
  download?: boolean;
  /** Download timeout in milliseconds. Default 60 s. */
  timeoutMs?: number;
  /**
   * How your users pass a local file, for error messages. Default `(or pass { path } in code)`;
   * a command-line tool says e.g. `or pass --corpus FILE`.
   */
  localCopyHint?: string;
}

/** Where the text came from, for logs. */
export interface TimeMachineText {
  text: string;
  origin: 'path' | 'env' | 'cache' | 'download';
  file: string;
}

/** Reads a UTF-8 text file, with errors that name the file and the fix (`localCopyHint` as in `TimeMachineSource`). */
export async function readTextFile(path: string, what = 'corpus', localCopyHint?: string): Promise<string> {
  const howTo = howToPass(localCopyHint);
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EISDIR' ? 'is a folder' : code === 'EACCES' ? 'is not readable (permission denied)' : `cannot be read (${code ?? String(err)})`;
    throw new Error(`The ${what} file ${path} ${why}. ${howTo}`);
  }
  const text = decodeText(bytes);
  if (text === null) throw new Error(`The ${what} file ${path} is not a text file (it has NUL bytes or is not valid UTF-8): use a UTF-8 text file.`);
  if (text.trim() === '') throw new Error(`The ${what} file ${path} is empty. ${howTo}`);
  return text;
}

/** The UTF-8 text of `bytes` (a BOM dropped), or null when they look binary: NUL bytes or invalid UTF-8. */
export function decodeText(bytes: Uint8Array): string | null {
  if (bytes.includes(0)) return null;
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    return null;
  }
}

export function defaultCacheDir(env: Record<string, string | undefined> = process.env): string {
  const base = env.XDG_CACHE_HOME && env.XDG_CACHE_HOME !== '' ? env.XDG_CACHE_HOME : join(homedir(), '.cache');
  return join(base, 'rnnkit');
}

/** Hex SHA-1 of bytes or text (d2l checks its downloads with it). */
export function sha1(data: Uint8Array | string): string {
  return createHash('sha1').update(data).digest('hex');
}

/**
 * The raw text of The Time Machine, from (in order) an explicit path, `RNNKIT_TIMEMACHINE`, the
 * cache, or d2l's download (checked against its SHA-1 and cached atomically). d2l `download`.
 */
export async function fetchTimeMachineText(source: TimeMachineSource = {}): Promise<TimeMachineText> {
  const hint = source.localCopyHint;
  if (source.path !== undefined) {
    return { text: await readTextFile(source.path, 'corpus', hint), origin: 'path', file: source.path };
  }
  const env = source.env ?? process.env;
  const fromEnv = env[TIME_MACHINE_ENV];
  if (fromEnv !== undefined && fromEnv !== '') {
    return { text: await readTextFile(fromEnv, TIME_MACHINE_ENV, hint), origin: 'env', file: fromEnv };
  }
  const expected = source.sha1 ?? TIME_MACHINE_SHA1;
  const cacheFile = join(source.cacheDir ?? defaultCacheDir(env), 'timemachine.txt');
  try {
    const cached = await readFile(cacheFile);
    if (sha1(cached) === expected) return { text: cached.toString('utf8'), origin: 'cache', file: cacheFile };
  } catch {
    // No usable cache: download below.
  }
  const url = source.url ?? TIME_MACHINE_URL;
  if (source.download === false) {
    throw new Error(`The Time Machine is not in the cache (${cacheFile}) and downloading is off. ${howToPass(hint)}`);
  }
  const body = await download(url, source.timeoutMs ?? 60_000, howToPass(hint), 'The Time Machine');
  const got = sha1(body);
  if (got !== expected) {
    throw new Error(
      `The download from ${url} has SHA-1 ${got}, not the expected ${expected}; nothing was cached. ${howToPass(hint)}`,
    );
  }
  await writeFileAtomic(cacheFile, body);
  return { text: Buffer.from(body).toString('utf8'), origin: 'download', file: cacheFile };
}

/** Fetches `url` as bytes; errors name `what`, the cause and `howTo` (the way to use a local copy). */
export async function download(url: string, timeoutMs: number, howTo: string, what: string): Promise<Uint8Array> {
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    throw new Error(`Could not download ${what} from ${url} (${cause}). ${howTo}`);
  }
  if (!response.ok) {
    throw new Error(`Could not download ${what} from ${url}: HTTP ${response.status}. ${howTo}`);
  }
  return new Uint8Array(await response.arrayBuffer());
}

/** Writes a file through a temporary file and a rename, so readers never see half of it. */
export async function writeFileAtomic(file: string, data: Uint8Array | string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** d2l `read_time_machine`: the book's lines, preprocessed. */
export async function readTimeMachine(source: TimeMachineSource = {}, preprocess: Preprocessing = 'd2l'): Promise<string[]> {
  return preprocessText((await fetchTimeMachineText(source)).text, preprocess);
}

/** A corpus of token indices and its vocabulary. */
export interface Corpus {
  corpus: Int32Array;
  vocab: Vocab;
  /** From `loadCorpusTimeMachine`: the share of the text's visible characters that preprocessing kept (see `keptFraction`). */
  keptFraction?: number;
}

export interface CorpusOptions {
  /** Keep only the first `maxTokens` tokens; 0 or undefined keeps all. d2l's training default is 10000. */
  maxTokens?: number;
  /** What `loadCorpusTimeMachine` keeps of the text (see {@link Preprocessing}). Default `'d2l'`: a-z, lower case. */
  preprocess?: Preprocessing;
  /** Character (d2l's default here) or word tokens. */
  tokens?: TokenKind;
  /** Reuse a vocabulary (for example a checkpoint's) instead of building one. */
  vocab?: Vocab;
}

/**
 * Builds a corpus from preprocessed lines: all tokens of all lines joined without separators,
 * with a vocabulary over all lines (d2l `load_corpus_time_machine`, for any text).
 */
export function corpusFromLines(lines: readonly string[], options: CorpusOptions = {}): Corpus {
  const tokens = tokenize(lines, options.tokens ?? 'char');
  const vocab = options.vocab ?? new Vocab(tokens);
  const maxTokens = options.maxTokens ?? 0;
  if (!Number.isInteger(maxTokens) || maxTokens < 0) {
    throw new RangeError(`maxTokens must be a whole number >= 0 (0 keeps the whole text), got ${maxTokens}.`);
  }
  let total = 0;
  for (const line of tokens) total += line.length;
  const n = maxTokens > 0 ? Math.min(maxTokens, total) : total;
  const corpus = new Int32Array(n);
  let k = 0;
  outer: for (const line of tokens) {
    for (const t of line) {
      if (k >= n) break outer;
      corpus[k++] = vocab.indexOf(t);
    }
  }
  if (n === 0) {
    throw new Error("The corpus has no tokens after preprocessing: d2l's preprocessing keeps only the letters a-z; for other alphabets use preprocess 'letters' (every Unicode letter) or 'raw' (every character).");
  }
  return { corpus, vocab };
}

/** d2l `load_corpus_time_machine(max_tokens)`: character indices of The Time Machine and its vocabulary. */
export async function loadCorpusTimeMachine(
  options: CorpusOptions & { source?: TimeMachineSource } = {},
): Promise<Corpus> {
  const text = (await fetchTimeMachineText(options.source)).text;
  const lines = preprocessText(text, options.preprocess ?? 'd2l');
  return { ...corpusFromLines(lines, options), keptFraction: keptFraction(text, lines) };
}
