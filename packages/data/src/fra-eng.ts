import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { strFromU8, unzipSync } from 'fflate';
import { download } from './timemachine.js';
import { defaultCacheDir, sha1, writeFileAtomic } from './timemachine-node.js';

/** d2l's download address and SHA-1 of the English-French pairs (`fra-eng.zip`, holding `fra-eng/fra.txt`). */
export const FRA_ENG_URL = 'http://d2l-data.s3-accelerate.amazonaws.com/fra-eng.zip';
export const FRA_ENG_SHA1 = '94646ad1522d915e7b0f9296181140edcf86a4f5';
/** The environment variable that points rnnkit at a local `fra.txt` or `fra-eng.zip`. */
export const FRA_ENG_ENV = 'RNNKIT_FRA_ENG';

/** Where to find `fra.txt`; each field overrides the default of the same step (as `TimeMachineSource`). */
export interface FraEngSource {
  /** A local `fra.txt` or `fra-eng.zip`: used as is (no hash check). */
  path?: string;
  /** Environment to read `RNNKIT_FRA_ENG` and `XDG_CACHE_HOME` from. Default `process.env`. */
  env?: Record<string, string | undefined>;
  /** Cache folder. Default `$XDG_CACHE_HOME/rnnkit` or `~/.cache/rnnkit`. */
  cacheDir?: string;
  /** Download address. Default d2l's. */
  url?: string;
  /** Expected SHA-1 of the zip. Default d2l's. */
  sha1?: string;
  /** `false` to fail instead of downloading. */
  download?: boolean;
  /** Download timeout in milliseconds. Default 120 s. */
  timeoutMs?: number;
  /** How your users pass a local file, for error messages. Default `(or pass { path } in code)`. */
  localCopyHint?: string;
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
    bytes = await readFile(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EISDIR' ? 'is a folder' : `cannot be read (${code ?? String(err)})`;
    throw new Error(`The ${what} file ${file} ${why}. ${howTo}`);
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
  const expected = source.sha1 ?? FRA_ENG_SHA1;
  const cacheFile = join(source.cacheDir ?? defaultCacheDir(env), 'fra-eng.zip');
  try {
    const cached = await readFile(cacheFile);
    if (sha1(cached) === expected) return { text: fraTxtOf(cached, cacheFile, howTo), origin: 'cache', file: cacheFile };
  } catch {
    // No usable cache: download below.
  }
  const url = source.url ?? FRA_ENG_URL;
  if (source.download === false) throw new Error(`fra-eng.zip is not in the cache (${cacheFile}) and downloading is off. ${howTo}`);
  const body = await download(url, source.timeoutMs ?? 120_000, howTo, 'the English-French pairs');
  const got = sha1(body);
  if (got !== expected) throw new Error(`The download from ${url} has SHA-1 ${got}, not the expected ${expected}; nothing was cached. ${howTo}`);
  const text = fraTxtOf(body, url, howTo);
  await writeFileAtomic(cacheFile, body);
  return { text, origin: 'download', file: cacheFile };
}

/** d2l `read_data_nmt`: the raw text of `fra.txt` (see `fetchFraEngText` for where it comes from). */
export async function readDataNmt(source: FraEngSource = {}): Promise<string> {
  return (await fetchFraEngText(source)).text;
}
