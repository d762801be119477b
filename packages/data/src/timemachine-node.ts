import { join } from 'node:path';
import { defaultCacheDir, fetchCached } from './cache-node.js';
import { FileReadError, identityOf, readRegularFile } from './files-node.js';
import { timeMachineLoaders } from './timemachine-loaders.js';
import {
  TIME_MACHINE_ENV,
  TIME_MACHINE_SHA1,
  TIME_MACHINE_URL,
  decodeText,
  howToPass,
  shippedTimeMachine,
  wantsDownload,
  type FileIdentity,
  type TimeMachineSource,
  type TimeMachineText,
} from './timemachine.js';

// Node's The Time Machine: files, the environment and the download cache. The package's `node`
// export condition picks this; browsers get timemachine-browser.ts.

/**
 * Reads a UTF-8 text file, with errors that name the file and the fix. For a `corpus` (and the
 * `RNNKIT_TIMEMACHINE` file) the fix is how to point rnnkit at The Time Machine (`localCopyHint` as
 * in `TimeMachineSource`); for any other `what` (a CSV, sentence pairs...) `localCopyHint` is the
 * fix itself, one sentence ("Give --csv a CSV file with a column of numbers"). `fix`, when given,
 * is the sentence for every case.
 */
export async function readTextFile(path: string, what = 'corpus', localCopyHint?: string, fix?: string): Promise<string> {
  return (await readTextBytes(path, what, localCopyHint, fix)).text;
}

/**
 * `readTextFile`, with the SHA-256 and size of the bytes the text was decoded from: what a
 * checkpoint records of its data file, from the one read its data came from.
 */
export async function readTextAndIdentity(
  path: string,
  what: string,
  localCopyHint?: string,
  fix?: string,
): Promise<{ text: string; fileIdentity: FileIdentity }> {
  const { text, bytes } = await readTextBytes(path, what, localCopyHint, fix);
  return { text, fileIdentity: identityOf(bytes) };
}

/** `readTextFile`'s read and checks, with the bytes (hashed only by the callers that record them). */
async function readTextBytes(path: string, what: string, localCopyHint?: string, fix?: string): Promise<{ text: string; bytes: Uint8Array }> {
  const howTo =
    fix !== undefined
      ? fix
      : what === 'corpus' || what === TIME_MACHINE_ENV
        ? howToPass(localCopyHint)
        : localCopyHint
          ? `${localCopyHint.charAt(0).toUpperCase()}${localCopyHint.slice(1).replace(/\.?$/, '.')}`
          : '';
  let bytes: Uint8Array;
  try {
    bytes = await readRegularFile(path, { what });
  } catch (err) {
    if (err instanceof FileReadError && (err.problem === 'missing' || err.problem === 'folder')) throw new Error(`${err.message} ${howTo}`.trim());
    throw err;
  }
  const text = decodeText(bytes);
  if (text === null) throw new Error(`The ${what} file ${path} is not a text file (it has NUL bytes or is not valid UTF-8): use a UTF-8 text file.`);
  if (text.trim() === '') throw new Error(`The ${what} file ${path} is empty. ${howTo}`.trim());
  return { text, bytes };
}

/**
 * The raw text of The Time Machine, from (in order) an explicit path, `RNNKIT_TIMEMACHINE`, the
 * cache, d2l's download when asked for (`url` or `download: true`; checked against its SHA-1 and
 * cached atomically), or the copy shipped with the package. d2l `download`.
 */
export async function fetchTimeMachineText(source: TimeMachineSource = {}): Promise<TimeMachineText> {
  const hint = source.localCopyHint;
  if (source.path !== undefined) {
    // A path the caller chose (the user's own text, often not the book): check it, not RNNKIT_TIMEMACHINE.
    const fix = 'Check the path, or leave it out to use The Time Machine shipped with @rnnkit/data.';
    return { ...(await readTextAndIdentity(source.path, 'corpus', hint, fix)), origin: 'path', file: source.path };
  }
  const env = source.env ?? process.env;
  const fromEnv = env[TIME_MACHINE_ENV];
  if (fromEnv !== undefined && fromEnv !== '') {
    return { text: await readTextFile(fromEnv, TIME_MACHINE_ENV, hint), origin: 'env', file: fromEnv };
  }
  const cacheFile = join(source.cacheDir ?? defaultCacheDir(env), 'timemachine.txt');
  const got = await fetchCached({
    cacheFile,
    url: source.url ?? TIME_MACHINE_URL,
    sha1: source.sha1 ?? TIME_MACHINE_SHA1,
    download: wantsDownload(source),
    timeoutMs: source.timeoutMs ?? 60_000,
    what: 'The Time Machine',
    howTo: howToPass(hint),
    decode: (bytes) => new TextDecoder().decode(bytes),
  });
  if (got) return { text: got.value, origin: got.origin, file: cacheFile };
  if (source.shipped === false) {
    const off = source.download === false ? 'downloading is off' : 'no download was asked for (pass { download: true })';
    throw new Error(`The Time Machine is not in the cache (${cacheFile}), ${off} and the shipped copy is off. ${howToPass(hint)}`);
  }
  return shippedTimeMachine();
}

// d2l `read_time_machine`, `load_corpus_time_machine` and `load_data_time_machine` over this platform's text.
export const { readTimeMachine, loadCorpusTimeMachine, loadDataTimeMachine } = timeMachineLoaders(fetchTimeMachineText);
