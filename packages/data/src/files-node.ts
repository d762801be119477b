// Reading a user's file safely: only regular files, never more than a limit. A corpus, a checkpoint
// file, a pairs file or a CSV may be a typo'd path to /dev/zero or a FIFO; reading those would
// fill the memory or block forever, so they are refused before a byte is read.
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import type { FileIdentity } from './timemachine.js';

/** The largest text file (corpus, sentence pairs, CSV) rnnkit reads by default: 256 MiB. */
export const MAX_TEXT_FILE_BYTES = 256 * 2 ** 20;

/** Why a file was not read. */
export type FileReadProblem = 'missing' | 'folder' | 'not-regular' | 'too-large' | 'permission' | 'unreadable';

/** A file that was not read; the message names the file and the fix. */
export class FileReadError extends Error {
  constructor(
    /** The path as given. */
    readonly file: string,
    readonly problem: FileReadProblem,
    message: string,
    /** The system's error code (ENOENT, EACCES...), when there was one. */
    readonly code?: string,
  ) {
    super(message);
    this.name = 'FileReadError';
  }
}

export interface ReadRegularFileOptions {
  /** At most this many bytes (default `MAX_TEXT_FILE_BYTES`). */
  maxBytes?: number;
  /** What the file is, for messages: "The corpus file x.txt is a folder". Default "file". */
  what?: string;
}

/** `1.5 GiB`, `300 MiB`, `12 KiB`, `80 bytes`. */
export function formatByteCount(bytes: number): string {
  if (bytes >= 2 ** 30) return `${(bytes / 2 ** 30).toFixed(1).replace(/\.0$/, '')} GiB`;
  if (bytes >= 2 ** 20) return `${(bytes / 2 ** 20).toFixed(1).replace(/\.0$/, '')} MiB`;
  if (bytes >= 2 ** 10) return `${(bytes / 2 ** 10).toFixed(1).replace(/\.0$/, '')} KiB`;
  return `${bytes} bytes`;
}

function kindOf(s: { isDirectory(): boolean; isFIFO(): boolean; isCharacterDevice(): boolean; isBlockDevice(): boolean; isSocket(): boolean }): string {
  if (s.isFIFO()) return 'a FIFO (named pipe)';
  if (s.isCharacterDevice()) return 'a character device';
  if (s.isBlockDevice()) return 'a block device';
  if (s.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * Reads a whole regular file. Refuses at once, with a `FileReadError` naming the file: a missing
 * file, a folder, anything that is not a regular file (a FIFO, /dev/zero, a socket: opened without
 * blocking and checked before reading), a file larger than `maxBytes`, and files it may not read.
 */
export async function readRegularFile(path: string, options: ReadRegularFileOptions = {}): Promise<Uint8Array> {
  const what = options.what ?? 'file';
  const maxBytes = options.maxBytes ?? MAX_TEXT_FILE_BYTES;
  const name = what === 'file' ? `The file ${path}` : `The ${what} file ${path}`;
  let handle: FileHandle;
  try {
    // O_NONBLOCK: opening a FIFO for reading returns at once instead of waiting for a writer.
    handle = await open(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (err) {
    throw openError(err, path, name);
  }
  try {
    const s = await handle.stat();
    if (s.isDirectory()) throw new FileReadError(path, 'folder', `${name} is a folder, not a file.`, 'EISDIR');
    if (!s.isFile()) throw new FileReadError(path, 'not-regular', `${name} is ${kindOf(s)}: rnnkit reads only regular files.`);
    if (s.size > maxBytes) {
      throw new FileReadError(
        path,
        'too-large',
        `${name} is ${formatByteCount(s.size)}, more than the ${formatByteCount(maxBytes)} rnnkit reads for ${what === 'file' ? 'a file' : `a ${what} file`}.`,
      );
    }
    const bytes = new Uint8Array(s.size);
    let at = 0;
    while (at < bytes.length) {
      const { bytesRead } = await handle.read(bytes, at, bytes.length - at, at);
      if (bytesRead === 0) break;
      at += bytesRead;
    }
    return at === bytes.length ? bytes : bytes.subarray(0, at);
  } catch (err) {
    if (err instanceof FileReadError) throw err;
    throw openError(err, path, name);
  } finally {
    await handle.close();
  }
}

function openError(err: unknown, path: string, name: string): FileReadError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return new FileReadError(path, 'missing', `${name} does not exist.`, code);
  if (code === 'EISDIR') return new FileReadError(path, 'folder', `${name} is a folder, not a file.`, code);
  if (code === 'EACCES' || code === 'EPERM') return new FileReadError(path, 'permission', `${name} is not readable (permission denied, ${code}).`, code);
  return new FileReadError(path, 'unreadable', `${name} cannot be read (${code ?? (err as Error).message}).`, code);
}

/** A file that was not written; the message names the file and the cause (a full disk, permissions...). */
export class FileWriteError extends Error {
  constructor(
    readonly file: string,
    message: string,
    /** The system's error code (ENOSPC, EACCES...), when there was one. */
    readonly code?: string,
  ) {
    super(message);
    this.name = 'FileWriteError';
  }
}

const WRITE_CAUSES: Record<string, string> = {
  ENOSPC: 'no space left on the device',
  EDQUOT: 'the disk quota is used up',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EROFS: 'the file system is read-only',
  ENOTDIR: 'part of the path is a file, not a folder',
  EISDIR: 'it is a folder',
  EFBIG: 'the file is too large for the file system',
  EIO: 'an input/output error of the device',
};

/** What a failed write of `file` says: the file, the cause in words and the system's code. */
export function describeWriteFailure(err: unknown, file: string): string {
  const code = (err as NodeJS.ErrnoException).code;
  const cause = (code && WRITE_CAUSES[code]) ?? (err as Error).message ?? String(err);
  return `Cannot write ${file}: ${cause}${code && WRITE_CAUSES[code] ? ` (${code})` : ''}.`;
}

/** The error to throw for a failed write of `file` (a `FileWriteError` naming it; one already named is kept). */
export function writeError(err: unknown, file: string): Error {
  if (err instanceof FileWriteError) return err;
  return new FileWriteError(file, describeWriteFailure(err, file), (err as NodeJS.ErrnoException).code);
}

/** The SHA-256 and size of a regular file (read with `readRegularFile`'s checks and limit). */
export async function fileIdentity(path: string, options: ReadRegularFileOptions = {}): Promise<FileIdentity> {
  return identityOf(await readRegularFile(path, options));
}

/** The SHA-256 and size of bytes read. */
export function identityOf(bytes: Uint8Array): FileIdentity {
  return { sha256: createHash('sha256').update(bytes).digest('hex'), bytes: bytes.byteLength };
}
