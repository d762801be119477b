import { resolve } from 'node:path';
import { fileIdentity, type FileIdentity } from '@rnnkit/data';

// The data file a checkpoint was trained on (a CSV series, sentence pairs): recorded by its
// absolute path and content, so that a command run with --checkpoint from another folder reads
// that file, not whatever has the same relative name there, and says when it has changed.

/** What a checkpoint records of its data file. */
export interface DataFileRecord {
  /** The path as given on the command line. */
  file: string;
  /** Its absolute path when trained. */
  path?: string;
  /** SHA-256 of its bytes, hex, when trained. */
  sha256?: string;
}

/** The record of a data file (`file` as given), from the identity of the read its data came from. */
export function dataFileRecord(file: string, read: FileIdentity): DataFileRecord {
  return { file, path: resolve(file), sha256: read.sha256 };
}

/**
 * The file to read again for a checkpoint: its absolute path when recorded (else the path as given,
 * from checkpoints that did not record it), and a note when its content is no longer the one it
 * was trained on.
 */
export async function recordedDataFile(record: DataFileRecord, what: string): Promise<{ file: string; changed?: string }> {
  const file = record.path ?? record.file;
  if (record.sha256 === undefined) return { file };
  let sha256: string;
  try {
    ({ sha256 } = await fileIdentity(file, { what }));
  } catch {
    return { file }; // the read that follows names the problem
  }
  return sha256 === record.sha256
    ? { file }
    : { file, changed: `${file} has changed since the model was trained (SHA-256 ${record.sha256.slice(0, 12)}... then, ${sha256.slice(0, 12)}... now)` };
}
