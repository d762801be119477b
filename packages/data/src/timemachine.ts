import { joinLineTokens, textEncoding, corpusTokens, type LineBreak, type TextEncoding } from './encoding.js';
import { keptFraction, preprocessText, type Preprocessing, type TokenKind } from './text.js';
import { Vocab } from './vocab.js';

// The parts of The Time Machine loading that run anywhere (Node, browsers, workers). The
// platform parts (files, cache, environment) are in timemachine-node.ts and timemachine-browser.ts;
// each package entry (index.node.ts, index.ts) exports its platform's `fetchTimeMachineText`.

/** d2l's download address and SHA-1 of The Time Machine. */
export const TIME_MACHINE_URL = 'http://d2l-data.s3-accelerate.amazonaws.com/timemachine.txt';
export const TIME_MACHINE_SHA1 = '090b5e7e70c295757f55df93cb0a180b9691891a';
/** The environment variable that points rnnkit at a local copy of The Time Machine. */
export const TIME_MACHINE_ENV = 'RNNKIT_TIMEMACHINE';
/** The module that holds the copy shipped with the package (`origin: 'shipped'`). */
export const TIME_MACHINE_MODULE = '@rnnkit/data/timemachine';

/** How to point rnnkit at a local copy; `hint` names the caller's own way to pass a file. */
export function howToPass(hint = '(or pass { path } in code)'): string {
  return `Set ${TIME_MACHINE_ENV}=/path/to/timemachine.txt ${hint} to use a local copy.`;
}

/**
 * Where a d2l data file comes from (`TimeMachineSource`, `FraEngSource` of the Node entry): an
 * explicit file, an environment variable, the download cache, or d2l's download; each field
 * overrides the default of the same step.
 */
export interface DataFileSource {
  /** An explicit file (Node only): used as is (no hash check, so an edited copy works). */
  path?: string;
  /** Environment to read the file's variable (`RNNKIT_TIMEMACHINE`...) and `XDG_CACHE_HOME` from (Node only). Default `process.env`. */
  env?: Record<string, string | undefined>;
  /** Cache folder (Node only). Default `$XDG_CACHE_HOME/rnnkit` or `~/.cache/rnnkit`. */
  cacheDir?: string;
  /** Download address (SHA-1 checked; cached in Node). Default d2l's. */
  url?: string;
  /** Expected SHA-1 of the download and cache. Default d2l's. */
  sha1?: string;
  /** Download timeout in milliseconds. Default 60 s for The Time Machine, 120 s for fra-eng.zip. */
  timeoutMs?: number;
  /**
   * How your users pass a local file, for error messages. Default `(or pass { path } in code)`;
   * a command-line tool says e.g. `or pass --corpus FILE`.
   */
  localCopyHint?: string;
}

/**
 * Where to find The Time Machine. With no field set the text is the copy shipped with the
 * package (no file, cache or network needed); `url` downloads instead of using it.
 */
export interface TimeMachineSource extends DataFileSource {
  /**
   * `true` downloads from d2l's address (or `url`) when no file or cache has the text; `false`
   * never downloads, even with `url`. Default: download only when `url` is given.
   */
  download?: boolean;
  /** `false` to fail instead of falling back to the copy shipped with the package. Default `true`. */
  shipped?: boolean;
}

/** Where the text came from, for logs: `file` is the path, URL or shipped module. */
export interface TimeMachineText {
  text: string;
  origin: 'path' | 'env' | 'cache' | 'download' | 'shipped';
  file: string;
  /** For a file read from a path (`origin` 'path'): the SHA-256 and size of the very bytes the text came from. */
  fileIdentity?: FileIdentity;
}

/** A file's identity: its SHA-256 (hex) and size in bytes, as a checkpoint records its corpus. */
export interface FileIdentity {
  sha256: string;
  bytes: number;
}

/** A digest as hex, through Web Crypto (Node 20+ and browsers alike). */
async function digestHex(algorithm: 'SHA-1' | 'SHA-256', bytes: Uint8Array): Promise<string> {
  const digest = await globalThis.crypto.subtle.digest(algorithm, bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** SHA-1 as hex, through Web Crypto (Node 20+ and browsers alike). */
export async function sha1Hex(data: Uint8Array | string): Promise<string> {
  return digestHex('SHA-1', typeof data === 'string' ? new TextEncoder().encode(data) : data);
}

/**
 * The identity of bytes already read (a file a page was given): their SHA-256 and size, through
 * Web Crypto, as `fileIdentity` of the Node entry gives it for a file on disk.
 */
export async function bytesIdentity(bytes: Uint8Array): Promise<FileIdentity> {
  return { sha256: await digestHex('SHA-256', bytes), bytes: bytes.byteLength };
}

/** The copy shipped with the package, loaded on first use so bundles that never need it stay small. */
export async function shippedTimeMachine(): Promise<TimeMachineText> {
  const { TIME_MACHINE_TEXT } = await import('./shipped/timemachine.generated.js');
  return { text: TIME_MACHINE_TEXT, origin: 'shipped', file: TIME_MACHINE_MODULE };
}

/** Whether a source asks for a download: `download: true`, or a `url` unless `download: false`. */
export function wantsDownload(source: TimeMachineSource): boolean {
  return source.download === true || (source.url !== undefined && source.download !== false);
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

/**
 * Downloads `what` from `url` and checks its SHA-1 against `expected`; the bytes only when they
 * match. d2l `download` (without the cache: Node's is `fetchCached`).
 */
export async function downloadChecked(url: string, expected: string, timeoutMs: number, howTo: string, what: string): Promise<Uint8Array> {
  const body = await download(url, timeoutMs, howTo, what);
  const got = await sha1Hex(body);
  if (got !== expected) {
    throw new Error(`The download from ${url} has SHA-1 ${got}, not the expected ${expected}; nothing was cached. ${howTo}`);
  }
  return body;
}

/** A corpus of token indices and its vocabulary. */
export interface Corpus {
  /** From `corpusFromText`: the share of the text's visible characters that preprocessing kept (see `keptFraction`). */
  keptFraction?: number;
  /** The first `maxTokens` tokens of the text (all when 0). */
  corpus: Int32Array;
  vocab: Vocab;
  /** Tokens in the whole text, of which `corpus` holds the first `maxTokens`. */
  totalTokens: number;
  /** How the text became tokens (what a checkpoint records, and what a prefix goes through). */
  encoding: TextEncoding;
  /** Read from a file path: the identity of the bytes it was made from (no second read to hash, which could see another text). */
  fileIdentity?: FileIdentity;
}

export interface CorpusOptions {
  /** What each line keeps (see {@link Preprocessing}). Default `'d2l'`: a-z, lower case. */
  preprocess?: Preprocessing;
  /** Character (d2l's default here) or word tokens. */
  tokens?: TokenKind;
  /** What joins the lines (see {@link TextEncoding}). Default: the preprocessing's (`DEFAULT_LINE_BREAKS`). */
  lineBreak?: LineBreak;
  /** Keep only the first `maxTokens` tokens; 0 or undefined keeps all. d2l's training default is 10000. */
  maxTokens?: number;
  /** Tokens seen fewer times in the whole text map to `<unk>` (d2l's `min_freq`). Default 0. */
  minFreq?: number;
  /** Reuse a vocabulary (for example a checkpoint's) instead of building one. */
  vocab?: Vocab;
}

/** The corpus of a token stream: the vocabulary over all of it, the ids of its first `maxTokens`. */
function corpusFromTokens(tokens: readonly string[], encoding: TextEncoding, options: CorpusOptions): Corpus {
  const maxTokens = options.maxTokens ?? 0;
  if (!Number.isInteger(maxTokens) || maxTokens < 0) {
    throw new RangeError(`maxTokens must be a whole number >= 0 (0 keeps the whole text), got ${maxTokens}.`);
  }
  const minFreq = options.minFreq ?? 0;
  if (!Number.isInteger(minFreq) || minFreq < 0) throw new RangeError(`minFreq must be a whole number >= 0, got ${minFreq}.`);
  if (tokens.length === 0) {
    throw new Error(
      "The corpus has no tokens after preprocessing: d2l's preprocessing keeps only the letters a-z; for other alphabets use preprocess 'letters' (every Unicode letter) or 'raw' (every character).",
    );
  }
  const vocab = options.vocab ?? new Vocab(tokens, { minFreq });
  const n = maxTokens > 0 ? Math.min(maxTokens, tokens.length) : tokens.length;
  const corpus = new Int32Array(n);
  for (let k = 0; k < n; k++) corpus[k] = vocab.indexOf(tokens[k] as string);
  return { corpus, vocab, totalTokens: tokens.length, encoding };
}

/**
 * Builds a corpus from preprocessed lines: the tokens of all lines joined as `options.lineBreak`
 * says (with nothing under `'d2l'`), with a vocabulary over all of them (d2l
 * `load_corpus_time_machine`, for any text).
 */
export function corpusFromLines(lines: readonly string[], options: CorpusOptions = {}): Corpus {
  const encoding = textEncoding(options);
  return corpusFromTokens(joinLineTokens(lines, encoding), encoding, options);
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

/**
 * d2l `load_corpus_time_machine` on a text already read: preprocessed, tokenized and joined as
 * `options` say ({@link corpusTokens}), indexed, with the share of its characters kept.
 */
export function corpusFromText(text: string, options: CorpusOptions = {}): Corpus {
  const encoding = textEncoding(options);
  const kept = keptFraction(text, preprocessText(text, encoding.preprocess));
  return { ...corpusFromTokens(corpusTokens(text, encoding), encoding, options), keptFraction: kept };
}
