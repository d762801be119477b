// Node only (node:fs): import from '@rnnkit/training/node'. Importing it lets saveCheckpoint and
// loadCheckpoint (and the language-model ones) take folders, model.json paths and file:// URLs.
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileReadError, describeWriteFailure, formatByteCount, readRegularFile } from '@rnnkit/data';
import { CheckpointError, setCheckpointFileSystem, type CheckpointFile, type CheckpointFileReader, type CheckpointFileSystem } from './checkpoint/format.js';

export * from './index.js';
export { lockRunFolder, RunFolderLockedError, type RunFolderLock, type LockOwner } from './run-lock.js';

const toPath = (p: string) => (/^file:\/\//i.test(p) ? fileURLToPath(p) : p);
const codeOf = (err: unknown) => (err as NodeJS.ErrnoException).code;

/** The largest weight file a checkpoint may have (2 GiB); larger files are refused before they are read. */
export const MAX_WEIGHT_FILE_BYTES = 2 * 2 ** 30;
/** The largest model.json or optimizer.json (256 MiB: a vocabulary of millions of words). */
export const MAX_CHECKPOINT_JSON_BYTES = 256 * 2 ** 20;

/** The steps of a folder save, in order; a hook may fail at any of them (tests simulate crashes). */
export type FolderSaveStep = 'written' | 'moved-aside' | 'renamed';

export interface NodeCheckpointFileSystemOptions {
  /** Called after each step of a save (tests throw here to simulate a crash between steps). */
  afterStep?: (step: FolderSaveStep) => void;
}

/** A leftover of a save of the folder `<folder>`: what it is and the process that saved it. */
export interface CheckpointLeftover {
  /** `tmp`: the new copy, maybe incomplete; `old`: the copy moved aside. */
  kind: 'tmp' | 'old';
  pid: number;
}

/**
 * The leftover of a crashed save of the folder `folder` that the entry `entry` beside it is
 * (`.<folder>.tmp-<pid>-<n>` or `.<folder>.old-<pid>-<n>`), or null for any other name.
 */
export function parseCheckpointLeftover(entry: string, folder = 'checkpoint'): CheckpointLeftover | null {
  const m = new RegExp(`^\\.${folder.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.(tmp|old)-(\\d+)-\\d+$`).exec(entry);
  return m ? { kind: m[1] as 'tmp' | 'old', pid: Number(m[2]) } : null;
}

function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return codeOf(err) === 'EPERM';
  }
}

let saves = 0;

async function writeFile(path: string, bytes: Uint8Array): Promise<void> {
  const handle = await open(path, 'w');
  try {
    await handle.writeFile(bytes);
    await handle.sync(); // on disk before the rename that publishes it
  } finally {
    await handle.close();
  }
}

/**
 * The leftovers of crashed saves of the checkpoint folder `dir` (`.checkpoint.tmp-*`,
 * `.checkpoint.old-*` beside it), complete or not: a run folder holding only these still holds a run.
 */
export async function checkpointLeftovers(dir: string): Promise<string[]> {
  const target = resolve(toPath(dir));
  const folder = basename(target);
  let names: string[];
  try {
    names = await readdir(dirname(target));
  } catch {
    return [];
  }
  return names.filter((n) => parseCheckpointLeftover(n, folder)).map((n) => join(dirname(target), n));
}

/** The complete candidates for the checkpoint folder `dir` (itself and its leftovers with a model.json), newest first. */
async function candidatesOf(dir: string): Promise<string[]> {
  const found: { path: string; time: number; rank: number }[] = [];
  for (const path of [dir, ...(await checkpointLeftovers(dir))]) {
    const m = parseCheckpointLeftover(basename(path), basename(dir));
    try {
      const s = await stat(join(path, 'model.json'));
      // On equal times: a complete tmp folder is the newest save, then the folder, then one moved aside.
      found.push({ path, time: s.mtimeMs, rank: m ? (m.kind === 'tmp' ? 2 : 0) : 1 });
    } catch {
      // incomplete: no model.json yet
    }
  }
  found.sort((a, b) => b.time - a.time || b.rank - a.rank);
  return found.map((f) => f.path);
}

function folderReader(dir: string): CheckpointFileReader {
  return {
    describe: (file) => join(dir, file),
    async read(file) {
      const path = join(dir, file);
      const json = /\.json$/i.test(file);
      try {
        return await readRegularFile(path, { maxBytes: json ? MAX_CHECKPOINT_JSON_BYTES : MAX_WEIGHT_FILE_BYTES, what: 'checkpoint' });
      } catch (err) {
        if (!(err instanceof FileReadError)) throw err;
        if (err.problem === 'missing') return undefined;
        if (err.problem === 'permission')
          throw new CheckpointError(path, `Unreadable checkpoint: ${path} cannot be read (permission denied, ${err.code}).`, 'unreadable');
        if (err.problem === 'folder') throw new CheckpointError(path, `Corrupt checkpoint: ${path} is a folder, not a file.`);
        if (err.problem === 'not-regular')
          throw new CheckpointError(path, `Unreadable checkpoint: ${err.message.replace(/^The checkpoint file /, '')}`, 'unreadable');
        if (err.problem === 'too-large') {
          const limit = json ? MAX_CHECKPOINT_JSON_BYTES : MAX_WEIGHT_FILE_BYTES;
          throw new CheckpointError(
            path,
            `Corrupt checkpoint: ${path} is larger than the ${formatByteCount(limit)} a checkpoint's ${json ? '.json' : 'weight'} file may have.`,
          );
        }
        throw new CheckpointError(path, `Unreadable checkpoint: ${path} cannot be read (${err.code ?? err.message}).`, 'unreadable');
      }
    },
  };
}

async function kindOf(path: string): Promise<'file' | 'folder' | 'none'> {
  try {
    return (await stat(path)).isDirectory() ? 'folder' : 'file';
  } catch (err) {
    const code = codeOf(err);
    if (code === 'ENOENT' || code === 'ENOTDIR') return 'none';
    throw new CheckpointError(
      path,
      `Unreadable checkpoint: ${path} cannot be read (${code === 'EACCES' || code === 'EPERM' ? `permission denied, ${code}` : code}).`,
      'unreadable',
    );
  }
}

/** The error of a failed save: the file, the cause, and which checkpoint is intact. */
function saveError(err: unknown, file: string, dir: string, hadOne: boolean): CheckpointError {
  const intact = hadOne ? `The previous checkpoint in ${dir} is intact.` : `No checkpoint was written to ${dir}.`;
  return new CheckpointError(file, `${describeWriteFailure(err, file)} ${intact}`, 'unwritable');
}

/**
 * Checkpoint folders on the local file system. A save writes the whole folder under a temporary
 * name beside it (each file synced to disk, model.json last), then moves the previous folder aside
 * and renames the new one into place; a crash at any instant leaves the folder, a complete
 * leftover, or both. Loading tries the complete ones newest first and takes the first that passes
 * every check, whatever number of crashes left them. The next save removes leftovers of processes
 * that are gone. Only regular files are read, within `MAX_WEIGHT_FILE_BYTES` /
 * `MAX_CHECKPOINT_JSON_BYTES`. A failed save (a full disk, permissions) names the file and says
 * which checkpoint is intact.
 */
export function createNodeCheckpointFileSystem(options: NodeCheckpointFileSystemOptions = {}): CheckpointFileSystem {
  const step = (s: FolderSaveStep) => options.afterStep?.(s);
  return {
    async writeFolder(path, files: CheckpointFile[]) {
      const dir = resolve(toPath(path));
      const parent = dirname(dir);
      const name = basename(dir);
      if ((await kindOf(dir)) === 'file') throw new CheckpointError(dir, `Cannot save a checkpoint to ${dir}: it is a file, not a folder.`, 'unwritable');
      const hadOne = (await kindOf(join(dir, 'model.json'))) === 'file';
      try {
        await mkdir(parent, { recursive: true });
      } catch (err) {
        throw saveError(err, parent, dir, hadOne);
      }
      const id = `${process.pid}-${++saves}`;
      const tmp = join(parent, `.${name}.tmp-${id}`);
      const aside = join(parent, `.${name}.old-${id}`);
      let at = tmp;
      try {
        await mkdir(tmp);
        for (const f of files) {
          at = join(tmp, f.name);
          await writeFile(at, f.bytes);
        }
        step('written');
      } catch (err) {
        await rm(tmp, { recursive: true, force: true });
        if (err instanceof CheckpointError) throw err;
        if (codeOf(err) === undefined) throw err; // a test's simulated crash
        throw saveError(err, at, dir, hadOne);
      }
      // Between these two renames no folder sits at `dir`; loading then recovers `tmp` or `aside`.
      const hadFolder = (await kindOf(dir)) === 'folder';
      try {
        if (hadFolder) await rename(dir, aside);
        step('moved-aside');
        await rename(tmp, dir);
      } catch (err) {
        if (codeOf(err) === undefined) throw err;
        throw new CheckpointError(dir, `${describeWriteFailure(err, dir)} The new checkpoint is complete in ${tmp}; loading ${dir} recovers it.`, 'unwritable');
      }
      step('renamed');
      await rm(aside, { recursive: true, force: true });
      // Leftovers of crashed saves: remove those whose process is gone.
      for (const entry of await readdir(parent)) {
        const m = parseCheckpointLeftover(entry, name);
        if (m && (m.pid === process.pid || !isAlive(m.pid))) await rm(join(parent, entry), { recursive: true, force: true });
      }
    },

    async open(path) {
      const [first] = await candidates(path);
      if (!first) throw new CheckpointError(resolve(toPath(path)), `No checkpoint at ${path}.`, 'missing');
      return first;
    },

    candidates,
  };
}

/** What a path names, as complete checkpoint folders to try, newest first. */
async function candidates(path: string): Promise<{ reader: CheckpointFileReader; modelJson: string }[]> {
  const target = resolve(toPath(path));
  const kind = await kindOf(target);
  if (kind === 'file') {
    // A model.json path: its folder, or what crashes left of that folder.
    const file = basename(target);
    if (file !== 'model.json') return [{ reader: folderReader(dirname(target)), modelJson: file }];
    return (await candidatesOf(dirname(target))).map((d) => ({ reader: folderReader(d), modelJson: 'model.json' }));
  }
  if (kind === 'folder') {
    // A checkpoint folder (with a model.json, or leftovers of its saves) or a run folder holding checkpoint/.
    const own = await candidatesOf(target);
    const all = own.length > 0 ? own : await candidatesOf(join(target, 'checkpoint'));
    if (all.length > 0) return all.map((d) => ({ reader: folderReader(d), modelJson: 'model.json' }));
    throw new CheckpointError(join(target, 'model.json'), `No checkpoint at ${path}: model.json is missing.`, 'missing');
  }
  const recovered = await candidatesOf(target);
  if (recovered.length > 0) return recovered.map((d) => ({ reader: folderReader(d), modelJson: 'model.json' }));
  if (/\.json$/i.test(target)) {
    const leftovers = await candidatesOf(dirname(target));
    if (basename(target) === 'model.json' && leftovers.length > 0) return leftovers.map((d) => ({ reader: folderReader(d), modelJson: 'model.json' }));
  }
  throw new CheckpointError(target, `No checkpoint at ${path}: the ${/\.json$/i.test(target) ? 'file' : 'folder'} does not exist.`, 'missing');
}

setCheckpointFileSystem(createNodeCheckpointFileSystem());
