// Two processes on one run folder: the second is refused naming the first; a lock whose process
// is gone (kill -9) is taken over; of processes racing for a free folder exactly one wins.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { transformSync } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunFolderLockedError, lockRunFolder } from './run-lock.js';

let dir: string;
/** run-lock.ts as plain JavaScript, so the child processes start in milliseconds. */
let source: string;
const children: ChildProcess[] = [];
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'rnnkit-lock-'));
  source = join(dir, 'run-lock.mjs');
  const ts = readFileSync(fileURLToPath(new URL('./run-lock.ts', import.meta.url)), 'utf8');
  writeFileSync(source, transformSync(ts, { loader: 'ts', format: 'esm' }).code);
});
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/** A process that takes `folder` and says "locked" or "refused <pid>", then stays until killed. */
function holder(folder: string, command: string): { child: ChildProcess; said: Promise<string> } {
  const script = `
    import { lockRunFolder } from ${JSON.stringify(source)};
    try {
      await lockRunFolder(${JSON.stringify(folder)}, { command: ${JSON.stringify(command)} });
      process.stdout.write('locked\\n');
    } catch (err) {
      process.stdout.write('refused ' + (err.owner?.pid ?? err.message) + '\\n');
    }
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  children.push(child);
  const said = new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('\n')) resolve(out.trim());
    });
    child.on('exit', (code) => reject(new Error(`the child exited (${code}) before saying anything`)));
  });
  return { child, said };
}

const exited = (child: ChildProcess) =>
  new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve(null) : child.on('exit', resolve)));

describe('lockRunFolder', () => {
  it('refuses a second writer, naming the process that holds the folder; takes over once that process is killed', async () => {
    const folder = join(dir, 'run');
    const first = holder(folder, 'rnnkit train --out run');
    expect(await first.said).toBe('locked');
    const err = await lockRunFolder(folder, { command: 'rnnkit train --force --out run' }).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(RunFolderLockedError);
    expect((err as RunFolderLockedError).owner.pid).toBe(first.child.pid);
    expect((err as Error).message).toMatch(
      new RegExp(`^${folder.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is in use by another process: rnnkit train --out run \\(pid ${first.child.pid}, since `),
    );
    first.child.kill('SIGKILL');
    await exited(first.child);
    // Its lock file is still there, naming a process that is gone: taken over.
    expect(existsSync(join(folder, '.rnnkit-lock'))).toBe(true);
    const lock = await lockRunFolder(folder, { command: 'the test' });
    expect(JSON.parse(readFileSync(lock.file, 'utf8'))).toMatchObject({ pid: process.pid, command: 'the test' });
    await lock.release();
    expect(existsSync(lock.file)).toBe(false);
  });

  it('a lock naming a reused pid (another start time) is taken over', async () => {
    const folder = join(dir, 'reused');
    const lock = await lockRunFolder(folder);
    await lock.release();
    const owner = {
      pid: process.pid === 1 ? 2 : 1,
      hostname: (await import('node:os')).hostname(),
      command: 'old',
      started: '2020-01-01T00:00:00.000Z',
      startTicks: -5,
    };
    writeFileSync(join(folder, '.rnnkit-lock'), JSON.stringify(owner));
    const again = await lockRunFolder(folder, { command: 'new' });
    expect(JSON.parse(readFileSync(again.file, 'utf8')).command).toBe('new');
    await again.release();
  });

  it('of four processes racing for one free folder, exactly one gets it and the others name it', async () => {
    const folder = join(dir, 'race');
    const racers = Array.from({ length: 4 }, (_, i) => holder(folder, `racer ${i}`));
    const said = await Promise.all(racers.map((r) => r.said));
    const winners = racers.filter((_, i) => said[i] === 'locked');
    expect(winners).toHaveLength(1);
    for (const s of said.filter((x) => x !== 'locked')) expect(s).toBe(`refused ${winners[0]?.child.pid}`);
    for (const r of racers) r.child.kill('SIGKILL');
  });
});
