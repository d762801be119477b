import { join } from 'node:path';
import { strFromU8, unzipSync } from 'fflate';
import { defaultCacheDir, fetchCached } from './cache-node.js';
import { FileReadError, readRegularFile } from './files-node.js';
import type { DataFileSource } from './timemachine.js';

/** d2l's download address and SHA-1 of the English-French pairs (`fra-eng.zip`, holding `fra-eng/fra.txt`). */
export const FRA_ENG_URL = 'http://d2l-data.s3-accelerate.amazonaws.com/fra-eng.zip';
export const FRA_ENG_SHA1 = '94646ad1522d915e7b0f9296181140edcf86a4f5';
/** The environment variable that points rnnkit at a local `fra.txt` or `fra-eng.zip`. */
export const FRA_ENG_ENV = 'RNNKIT_FRA_ENG';

/**
 * Where to find `fra.txt`: `path` is a local `fra.txt` or `fra-eng.zip`, the variable is
 * `RNNKIT_FRA_ENG`, `sha1` is the zip's; otherwise the fields of `DataFileSource`.
 */
export interface FraEngSource extends DataFileSource {
  /** `false` to fail instead of downloading when the cache has no good copy. Default `true`. */
  download?: boolean;
}

export interface FraEngText {
  text: string;
  origin: 'path' | 'env' | 'cache' | 'download';
  file: string;
}

function howToPass(hint = '(or pass { path } in code)'): string {
  return `Set ${FRA_ENG_ENV}=/path/to/fra.txt ${hint} to use a local copy, or use the first 1,000 lines that ship with @rnnkit/data (FRA_ENG_HEAD).`;
}

/** `fra.txt` out of d2l's zip. */
function fraTxtOf(zip: Uint8Array, file: string, howTo: string): string {
  let entries: Record<string, Uint8Array>;
  try {
    entries = unzipSync(zip, { filter: (f) => f.name.endsWith('fra.txt') });
  } catch (err) {
    throw new Error(`${file} is not a readable zip file (${(err as Error).message}). ${howTo}`);
  }
  const entry = Object.values(entries)[0];
  if (!entry) throw new Error(`${file} holds no fra.txt. ${howTo}`);
  return strFromU8(entry);
}

async function readLocal(file: string, what: string, howTo: string): Promise<string> {
  let bytes: Uint8Array;
  try {
    // The zip is larger than the text it holds; fra.txt itself is about 10 MiB.
    bytes = await readRegularFile(file, { what });
  } catch (err) {
    if (err instanceof FileReadError && (err.problem === 'missing' || err.problem === 'folder')) throw new Error(`${err.message} ${howTo}`);
    throw err;
  }
  const text = file.endsWith('.zip') ? fraTxtOf(bytes, file, howTo) : strFromU8(bytes);
  if (text.trim() === '') throw new Error(`The ${what} file ${file} is empty. ${howTo}`);
  return text;
}

/**
 * The raw text of `fra.txt`, from (in order) an explicit path, `RNNKIT_FRA_ENG`, the cache, or
 * d2l's download of `fra-eng.zip` (checked against its SHA-1 and cached atomically).
 */
export async function fetchFraEngText(source: FraEngSource = {}): Promise<FraEngText> {
  const hint = source.localCopyHint;
  const howTo = howToPass(hint);
  if (source.path !== undefined) return { text: await readLocal(source.path, 'translation', howTo), origin: 'path', file: source.path };
  const env = source.env ?? process.env;
  const fromEnv = env[FRA_ENG_ENV];
  if (fromEnv !== undefined && fromEnv !== '') return { text: await readLocal(fromEnv, FRA_ENG_ENV, howTo), origin: 'env', file: fromEnv };
  const cacheFile = join(source.cacheDir ?? defaultCacheDir(env), 'fra-eng.zip');
  const got = await fetchCached({
    cacheFile,
    url: source.url ?? FRA_ENG_URL,
    sha1: source.sha1 ?? FRA_ENG_SHA1,
    download: source.download !== false,
    timeoutMs: source.timeoutMs ?? 120_000,
    what: 'the English-French pairs',
    howTo,
    decode: (bytes, file) => fraTxtOf(bytes, file, howTo),
  });
  if (!got) throw new Error(`fra-eng.zip is not in the cache (${cacheFile}) and downloading is off. ${howTo}`);
  return { text: got.value, origin: got.origin, file: cacheFile };
}

/** d2l `read_data_nmt`: the raw text of `fra.txt` (see `fetchFraEngText` for where it comes from). */
export async function readDataNmt(source: FraEngSource = {}): Promise<string> {
  return (await fetchFraEngText(source)).text;
}
