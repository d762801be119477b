// Only regular files are read, within a limit; a failed write names the file and keeps the old one.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { FileReadError, type FileWriteError, describeWriteFailure, fileIdentity, readRegularFile } from './files-node.js';
import { bytesIdentity } from './timemachine.js';
import { fetchTimeMachineText, readTextFile } from './timemachine-node.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rnnkit-files-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const problemOf = async (p: Promise<unknown>): Promise<FileReadError> => {
  try {
    await p;
  } catch (err) {
    expect(err).toBeInstanceOf(FileReadError);
    return err as FileReadError;
  }
  throw new Error('expected a FileReadError');
};

describe('readRegularFile', () => {
  it('reads a regular file whole, and gives its SHA-256 and size', async () => {
    const file = join(dir, 'a.txt');
    writeFileSync(file, 'the time machine\n');
    expect(new TextDecoder().decode(await readRegularFile(file))).toBe('the time machine\n');
    expect(await fileIdentity(file)).toEqual({ sha256: createHash('sha256').update('the time machine\n').digest('hex'), bytes: 17 });
  });

  it("gives bytes a page was handed the identity Node's fileIdentity gives the same bytes on disk (Web Crypto)", async () => {
    const file = join(dir, 'b.bin');
    const bytes = Uint8Array.from({ length: 3000 }, (_, i) => (i * 37) % 256);
    writeFileSync(file, bytes);
    expect(await bytesIdentity(bytes)).toEqual(await fileIdentity(file));
    expect(await bytesIdentity(new Uint8Array(0))).toEqual({ sha256: createHash('sha256').digest('hex'), bytes: 0 });
  });

  it('refuses /dev/zero and /dev/urandom at once, naming the file', async () => {
    const started = Date.now();
    for (const device of ['/dev/zero', '/dev/urandom']) {
      const err = await problemOf(readRegularFile(device, { what: 'corpus' }));
      expect(err.problem).toBe('not-regular');
      expect(err.message).toBe(`The corpus file ${device} is a character device: rnnkit reads only regular files.`);
    }
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('refuses a FIFO without waiting for a writer', async () => {
    const fifo = join(dir, 'pipe');
    execFileSync('mkfifo', [fifo]);
    const err = await problemOf(readRegularFile(fifo, { what: 'checkpoint' }));
    expect(err.problem).toBe('not-regular');
    expect(err.message).toContain(`The checkpoint file ${fifo} is a FIFO (named pipe)`);
    const text = await readTextFile(fifo).then(
      () => 'read',
      (e: Error) => e.message,
    );
    expect(text).toMatch(/is a FIFO \(named pipe\): rnnkit reads only regular files/);
  });

  it('refuses a file over the limit, naming the file, its size and the limit', async () => {
    const file = join(dir, 'big.txt');
    writeFileSync(file, 'x'.repeat(3000));
    const err = await problemOf(readRegularFile(file, { maxBytes: 2048, what: 'corpus' }));
    expect(err.problem).toBe('too-large');
    expect(err.message).toBe(`The corpus file ${file} is 2.9 KiB, more than the 2 KiB rnnkit reads for a corpus file.`);
  });

  it('names missing files and folders', async () => {
    expect((await problemOf(readRegularFile(join(dir, 'nope.txt')))).problem).toBe('missing');
    const sub = join(dir, 'sub');
    mkdirSync(sub);
    const err = await problemOf(readRegularFile(sub, { what: 'corpus' }));
    expect(err.problem).toBe('folder');
    expect(err.message).toBe(`The corpus file ${sub} is a folder, not a file.`);
  });
});

describe('readTextFile', () => {
  it("says The Time Machine's fix for a corpus, and the caller's own fix for any other file", async () => {
    const missing = join(dir, 'sales.csv');
    const empty = join(dir, 'empty.tsv');
    writeFileSync(empty, ' \n');
    const message = (p: Promise<unknown>) =>
      p.then(
        () => 'read',
        (e: Error) => e.message,
      );
    expect(await message(readTextFile(missing, 'CSV', 'give --csv a CSV file with a column of numbers'))).toBe(
      `The CSV file ${missing} does not exist. Give --csv a CSV file with a column of numbers.`,
    );
    expect(await message(readTextFile(empty, 'pairs', 'give --pairs a file of source<TAB>target lines'))).toBe(
      `The pairs file ${empty} is empty. Give --pairs a file of source<TAB>target lines.`,
    );
    expect(await message(readTextFile(empty, 'pairs'))).toBe(`The pairs file ${empty} is empty.`);
    expect(await message(readTextFile(missing, 'corpus', 'or pass --corpus FILE'))).toMatch(/does not exist\. Set RNNKIT_TIMEMACHINE=.* or pass --corpus FILE/);
    // A path the caller chose: check it (it is the user's own text more often than the book).
    expect(await message(fetchTimeMachineText({ path: missing, localCopyHint: 'or pass --corpus FILE' }))).toBe(
      `The corpus file ${missing} does not exist. Check the path, or leave it out to use The Time Machine shipped with @rnnkit/data.`,
    );
  });
});

describe('write failures', () => {
  it('name the file and the cause', () => {
    const enospc = Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    expect(describeWriteFailure(enospc, '/runs/a/metrics.json')).toBe('Cannot write /runs/a/metrics.json: no space left on the device (ENOSPC).');
    const eacces = Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
    expect(describeWriteFailure(eacces, '/x')).toBe('Cannot write /x: permission denied (EACCES).');
  });

  it('writeFileAtomic on a full disk keeps the previous file and names the file', async () => {
    const file = join(dir, 'metrics.json');
    writeFileSync(file, 'old');
    vi.resetModules();
    vi.doMock('node:fs/promises', async (importOriginal) => {
      const fs = await importOriginal<typeof import('node:fs/promises')>();
      return {
        ...fs,
        writeFile: async () => {
          throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        },
      };
    });
    const { writeFileAtomic } = await import('./cache-node.js');
    const err = await writeFileAtomic(file, 'new').then(
      () => null,
      (e: unknown) => e,
    );
    vi.doUnmock('node:fs/promises');
    expect(err).toBeInstanceOf(Error);
    expect((err as FileWriteError).name).toBe('FileWriteError');
    expect((err as Error).message).toBe(`Cannot write ${file}: no space left on the device (ENOSPC).`);
    expect(readFileSync(file, 'utf8')).toBe('old');
  });
});
