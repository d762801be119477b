import { createHash, randomBytes } from 'node:crypto';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { readRegularFile, writeError } from './files-node.js';
import { downloadChecked } from './timemachine.js';

// Node's download cache, shared by The Time Machine and fra-eng.zip: d2l's `download`, which
// keeps a file under its SHA-1 and fetches it only when the cached copy is missing or wrong.

/** Hex SHA-1 of bytes or text (d2l checks its downloads with it); synchronous, through node:crypto. */
export function sha1(data: Uint8Array | string): string {
  return createHash('sha1').update(data).digest('hex');
}

export function defaultCacheDir(env: Record<string, string | undefined> = process.env): string {
  const base = env.XDG_CACHE_HOME && env.XDG_CACHE_HOME !== '' ? env.XDG_CACHE_HOME : join(homedir(), '.cache');
  return join(base, 'rnnkit');
}

/**
 * Writes a file through a temporary file and a rename, so readers never see half of it; a failure
 * (a full disk...) leaves the previous file as it was and throws a `FileWriteError` naming the file.
 */
export async function writeFileAtomic(file: string, data: Uint8Array | string): Promise<void> {
  try {
    await mkdir(dirname(file), { recursive: true });
  } catch (err) {
    throw writeError(err, file);
  }
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(tmp, data);
    await rename(tmp, file);
  } catch (err) {
    await rm(tmp, { force: true });
    throw writeError(err, file);
  }
}

/** What `fetchCached` fetches, and how. */
export interface CachedFetch<T> {
  /** The cached copy's path (`defaultCacheDir()` and the file's name, unless the caller says). */
  cacheFile: string;
  url: string;
  /** The SHA-1 both the cached copy and a download must have. */
  sha1: string;
  /** `false`: a missing or wrong cached copy gives null instead of a download. */
  download: boolean;
  timeoutMs: number;
  /** What the file is, for error messages ("The Time Machine"). */
  what: string;
  /** How to use a local copy instead, appended to error messages. */
  howTo: string;
  /**
   * The bytes as the caller wants them; throws when they are unusable. A cached copy that fails
   * is downloaded again; a download that fails is not cached. `file` names the bytes in errors.
   */
  decode: (bytes: Uint8Array, file: string) => T;
}

/**
 * d2l `download` with its cache: the file from `cacheFile` when its SHA-1 is the expected one,
 * else downloaded from `url`, checked against the SHA-1, decoded and cached atomically. Null when
 * the cache has no good copy and `download` is false.
 */
export async function fetchCached<T>(o: CachedFetch<T>): Promise<{ value: T; origin: 'cache' | 'download' } | null> {
  try {
    const cached = await readRegularFile(o.cacheFile, { what: o.what });
    if (sha1(cached) === o.sha1) return { value: o.decode(cached, o.cacheFile), origin: 'cache' };
  } catch {
    // No usable cached copy: download it below.
  }
  if (!o.download) return null;
  const body = await downloadChecked(o.url, o.sha1, o.timeoutMs, o.howTo, o.what);
  const value = o.decode(body, o.url);
  await writeFileAtomic(o.cacheFile, body);
  return { value, origin: 'download' };
}
