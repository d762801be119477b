// One writer per run folder: an exclusive lock file that records its process. Not a library's
// lock (proper-lockfile and the like judge a lock stale by an mtime a timer refreshes, which a long
// synchronous training step can starve, and they record no process to name): this one is taken
// over only when the process it names is gone.
import { readFileSync, unlinkSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';

/** Who holds a run folder. */
export interface LockOwner {
  pid: number;
  hostname: string;
  /** The command line, for messages ("rnnkit train --out runs/a"). */
  command: string;
  /** ISO time the lock was taken. */
  started: string;
  /** The process's start time in clock ticks since boot (Linux), so a reused pid is not taken for the owner. */
  startTicks?: number;
}

/** A run folder another live process holds; the message names it. */
export class RunFolderLockedError extends Error {
  constructor(
    readonly dir: string,
    readonly owner: LockOwner,
  ) {
    super(
      `${dir} is in use by another process: ${owner.command} (pid ${owner.pid}${owner.hostname !== hostname() ? ` on ${owner.hostname}` : ''}, since ${owner.started}). Wait for it to finish or stop it, or use another folder.`,
    );
    this.name = 'RunFolderLockedError';
  }
}

export interface RunFolderLock {
  /** The lock file (`<dir>/.rnnkit-lock`). */
  readonly file: string;
  /** Gives the folder up (removes the lock file if it is still this process's). */
  release(): Promise<void>;
}

const LOCK_FILE = '.rnnkit-lock';
const codeOf = (err: unknown) => (err as NodeJS.ErrnoException).code;

/** This process's start time in clock ticks since boot (field 22 of /proc/self/stat), where /proc exists. */
function startTicksOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[19]);
    return Number.isFinite(ticks) ? ticks : undefined;
  } catch {
    return undefined;
  }
}

/** Whether the process a lock names still runs (on this machine; a lock of another host is kept). */
function ownerAlive(owner: LockOwner): boolean {
  if (owner.hostname !== hostname()) return true;
  if (owner.pid === process.pid) return true;
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    if (codeOf(err) !== 'EPERM') return false;
  }
  // The pid runs: the same process only if it started when the lock says (pids are reused).
  const ticks = startTicksOf(owner.pid);
  return owner.startTicks === undefined || ticks === undefined || ticks === owner.startTicks;
}

async function readOwner(file: string): Promise<LockOwner | null> {
  try {
    const owner = JSON.parse(await readFile(file, 'utf8')) as LockOwner;
    return typeof owner.pid === 'number' && typeof owner.hostname === 'string' ? owner : null;
  } catch {
    return null; // being written, or removed: try again
  }
}

/**
 * Takes the run folder `dir` (created if needed) for this process: writes `<dir>/.rnnkit-lock`
 * exclusively (O_EXCL), recording the pid, host, command line and start time. A lock whose process
 * is gone (a crash, kill -9) is taken over; one held by a live process throws a
 * `RunFolderLockedError` naming it. Release it when done (it is released on exit too).
 */
export async function lockRunFolder(dir: string, options: { command?: string } = {}): Promise<RunFolderLock> {
  const folder = resolve(dir);
  await mkdir(folder, { recursive: true });
  const file = join(folder, LOCK_FILE);
  const me: LockOwner = {
    pid: process.pid,
    hostname: hostname(),
    command: options.command ?? process.argv.slice(1).join(' '),
    started: new Date().toISOString(),
    ...(startTicksOf(process.pid) !== undefined ? { startTicks: startTicksOf(process.pid) } : {}),
  };
  for (let attempt = 0; attempt < 50; attempt++) {
    try {
      const handle = await open(file, 'wx');
      try {
        await handle.writeFile(JSON.stringify(me));
        await handle.sync();
      } finally {
        await handle.close();
      }
      return held(file);
    } catch (err) {
      if (codeOf(err) !== 'EEXIST') throw err;
    }
    const owner = await readOwner(file);
    if (owner && owner.pid === process.pid && owner.hostname === me.hostname) return held(file); // this process holds it already
    if (owner && ownerAlive(owner)) throw new RunFolderLockedError(folder, owner);
    // The owner is gone (or the file is being written): one process at a time removes a stale lock.
    if (owner) await takeOver(file, owner);
    else await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`Could not take ${file}: other processes keep taking and leaving it.`);
}

/** Removes a lock whose owner is gone, guarded so that two processes never remove a fresh lock. */
async function takeOver(file: string, stale: LockOwner): Promise<void> {
  const guard = `${file}.takeover`;
  try {
    await mkdir(guard);
  } catch (err) {
    if (codeOf(err) !== 'EEXIST') throw err;
    // Another process is taking over; a guard older than 10 s belongs to one that died doing it.
    try {
      if (Date.now() - (await stat(guard)).mtimeMs > 10_000) await rm(guard, { recursive: true, force: true });
    } catch {
      // gone already
    }
    await new Promise((r) => setTimeout(r, 20));
    return;
  }
  try {
    const now = await readOwner(file);
    if (now && now.pid === stale.pid && now.started === stale.started) {
      const aside = `${file}.stale-${process.pid}`;
      await rename(file, aside);
      await rm(aside, { force: true });
    }
  } catch (err) {
    if (codeOf(err) !== 'ENOENT') throw err;
  } finally {
    await rm(guard, { recursive: true, force: true });
  }
}

const heldFiles = new Set<string>();
let exitHook = false;

function held(file: string): RunFolderLock {
  heldFiles.add(file);
  if (!exitHook) {
    exitHook = true;
    // A process that exits without releasing (an error, process.exit) leaves no lock behind ('exit' handlers are synchronous).
    process.on('exit', () => {
      for (const f of heldFiles) {
        try {
          const owner = JSON.parse(readFileSync(f, 'utf8')) as LockOwner;
          if (owner.pid === process.pid) unlinkSync(f);
        } catch {
          // not there, or not ours
        }
      }
    });
  }
  return {
    file,
    async release() {
      heldFiles.delete(file);
      const owner = await readOwner(file);
      if (owner?.pid === process.pid) await unlink(file).catch(() => undefined);
    },
  };
}
