// Node only (node:fs): import from '@rnnkit/training/node'. Importing it lets saveLanguageModel and
// loadLanguageModel take folders, model.json paths and file:// URLs.
import { mkdir, open, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CheckpointError, setCheckpointFileSystem, type CheckpointFile, type CheckpointFileReader, type CheckpointFileSystem } from './checkpoint/format.js';

export { saveLanguageModel } from './checkpoint/save.js';
export { loadLanguageModel } from './checkpoint/load.js';
export {
  setCheckpointFileSystem,
  CheckpointError,
  CHECKPOINT_FORMAT,
  type CheckpointDestination,
  type CheckpointSource,
  type LanguageModelCheckpoint,
  type LoadedLanguageModel,
  type SaveLanguageModelOptions,
  type LoadLanguageModelOptions,
} from './checkpoint/format.js';

const toPath = (p: string) => (/^file:\/\//i.test(p) ? fileURLToPath(p) : p);
const codeOf = (err: unknown) => (err as NodeJS.ErrnoException).code;

/** The steps of a folder save, in order; a hook may fail at any of them (tests simulate crashes). */
export type FolderSaveStep = 'written' | 'moved-aside' | 'renamed';

export interface NodeCheckpointFileSystemOptions {
  /** Called after each step of a save (tests throw here to simulate a crash between steps). */
  afterStep?: (step: FolderSaveStep) => void;
}

/** A leftover of a save of `<name>`: `.<name>.tmp-<pid>-<n>` (new, maybe incomplete) or `.<name>.old-<pid>-<n>`. */
const LEFTOVER = (name: string) => new RegExp(`^\\.${name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\.(tmp|old)-(\\d+)-\\d+$`);

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

/** Completed leftovers of earlier saves of `dir`, newest first (a folder with model.json is complete). */
async function completeLeftovers(dir: string): Promise<string[]> {
  const parent = dirname(dir);
  const pattern = LEFTOVER(basename(dir));
  let names: string[];
  try {
    names = await readdir(parent);
  } catch {
    return [];
  }
  const found: { path: string; time: number; tmp: boolean }[] = [];
  for (const name of names) {
    const m = pattern.exec(name);
    if (!m) continue;
    const path = join(parent, name);
    try {
      const s = await stat(join(path, 'model.json'));
      found.push({ path, time: s.mtimeMs, tmp: m[1] === 'tmp' });
    } catch {
      // incomplete: no model.json yet
    }
  }
  // A complete tmp folder is the newer save (written before its predecessor was moved aside).
  found.sort((a, b) => b.time - a.time || Number(b.tmp) - Number(a.tmp));
  return found.map((f) => f.path);
}

function folderReader(dir: string): CheckpointFileReader {
  return {
    describe: (file) => join(dir, file),
    async read(file) {
      const path = join(dir, file);
      try {
        return new Uint8Array(await readFile(path));
      } catch (err) {
        const code = codeOf(err);
        if (code === 'ENOENT') return undefined;
        if (code === 'EACCES' || code === 'EPERM')
          throw new CheckpointError(path, `Unreadable checkpoint: ${path} cannot be read (permission denied, ${code}).`);
        if (code === 'EISDIR') throw new CheckpointError(path, `Corrupt checkpoint: ${path} is a folder, not a file.`);
        throw new CheckpointError(path, `Unreadable checkpoint: ${path} cannot be read (${code ?? (err as Error).message}).`);
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
    );
  }
}

/**
 * Checkpoint folders on the local file system. A save writes the whole folder under a temporary
 * name beside it, then moves the previous folder aside and renames the new one into place; a
 * crash at any instant leaves either the folder or a complete leftover, which loading picks up
 * (newest first). The next save removes leftovers of processes that are gone.
 */
export function createNodeCheckpointFileSystem(options: NodeCheckpointFileSystemOptions = {}): CheckpointFileSystem {
  const step = (s: FolderSaveStep) => options.afterStep?.(s);
  return {
    async writeFolder(path, files: CheckpointFile[]) {
      const dir = resolve(toPath(path));
      const parent = dirname(dir);
      const name = basename(dir);
      if ((await kindOf(dir)) === 'file') throw new Error(`Cannot save a checkpoint to ${dir}: it is a file, not a folder.`);
      await mkdir(parent, { recursive: true });
      const id = `${process.pid}-${++saves}`;
      const tmp = join(parent, `.${name}.tmp-${id}`);
      const aside = join(parent, `.${name}.old-${id}`);
      await mkdir(tmp);
      try {
        for (const f of files) await writeFile(join(tmp, f.name), f.bytes);
        step('written');
      } catch (err) {
        await rm(tmp, { recursive: true, force: true });
        throw err;
      }
      // Between these two renames no folder sits at `dir`; loading then recovers `tmp`.
      const hadOne = (await kindOf(dir)) === 'folder';
      if (hadOne) await rename(dir, aside);
      step('moved-aside');
      await rename(tmp, dir);
      step('renamed');
      await rm(aside, { recursive: true, force: true });
      // Leftovers of crashed saves: remove those whose process is gone.
      const pattern = LEFTOVER(name);
      for (const entry of await readdir(parent)) {
        const m = pattern.exec(entry);
        if (m && (Number(m[2]) === process.pid || !isAlive(Number(m[2])))) await rm(join(parent, entry), { recursive: true, force: true });
      }
    },

    async open(path) {
      const target = resolve(toPath(path));
      const kind = await kindOf(target);
      if (kind === 'file') return { reader: folderReader(dirname(target)), modelJson: basename(target) };
      if (kind === 'folder') {
        if ((await kindOf(join(target, 'model.json'))) !== 'none') return { reader: folderReader(target), modelJson: 'model.json' };
        // A run folder: its checkpoint/ (or what a crash left of it).
        const inner = join(target, 'checkpoint');
        if ((await kindOf(join(inner, 'model.json'))) !== 'none') return { reader: folderReader(inner), modelJson: 'model.json' };
        const [recovered] = [...(await completeLeftovers(target)), ...(await completeLeftovers(inner))];
        if (recovered) return { reader: folderReader(recovered), modelJson: 'model.json' };
        throw new CheckpointError(join(target, 'model.json'), `No checkpoint at ${path}: model.json is missing.`);
      }
      const [recovered] = await completeLeftovers(target);
      if (recovered) return { reader: folderReader(recovered), modelJson: 'model.json' };
      throw new CheckpointError(target, `No checkpoint at ${path}: the ${/\.json$/i.test(target) ? 'file' : 'folder'} does not exist.`);
    },
  };
}

setCheckpointFileSystem(createNodeCheckpointFileSystem());
