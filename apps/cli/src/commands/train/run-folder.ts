import { existsSync, readdirSync } from 'node:fs';
import { mkdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { writeFileAtomic } from '@rnnkit/data';
import { parseCheckpointLeftover } from '@rnnkit/training/node';
import { RnnkitError } from '../../errors.js';
import { perplexitySpec, renderSvg } from '../../plot.js';
import type { EpochRecord } from './options.js';

// Where a run writes: its folder (metrics.json, perplexity.svg, checkpoint/), picked, found from a --resume path, and checked.

/** A folder holds a run when it has a checkpoint, metrics, or only what crashed saves of a checkpoint left. */
export function holdsRun(dir: string): boolean {
  if (existsSync(join(dir, 'metrics.json')) || existsSync(join(dir, 'checkpoint', 'model.json'))) return true;
  try {
    return readdirSync(dir).some((name) => parseCheckpointLeftover(name) !== null);
  } catch {
    return false;
  }
}

/** `runs/train`, or the first of `runs/train-2`, `runs/train-3`, ... that holds no run. */
export function freshRunFolder(base = join('runs', 'train')): string {
  if (!holdsRun(base)) return base;
  for (let i = 2; ; i++) if (!holdsRun(`${base}-${i}`)) return `${base}-${i}`;
}

/** The run folder of a --resume path: a run folder, its checkpoint/ folder, or a model.json in it. */
export function runFolderOf(path: string): string {
  let p = path.replace(/[\\/]+$/, '');
  if (p.endsWith('.json')) p = dirname(p);
  return basename(p) === 'checkpoint' ? dirname(p) : p;
}

/**
 * Creates `dir` and writes a probe file in it, so a bad --out fails before training, not at the
 * first save. Returns the folders it created, outermost first (`removeIfEmpty` undoes them).
 */
export async function checkWritable(dir: string): Promise<string[]> {
  const created: string[] = [];
  try {
    // One level at a time: Node's recursive mkdir loops forever under /proc.
    const missing: string[] = [];
    for (let d = resolve(dir); !existsSync(d) && dirname(d) !== d; d = dirname(d)) missing.unshift(d);
    for (const d of missing) {
      await mkdir(d);
      created.push(d);
    }
    const probe = join(dir, `.rnnkit-write-check-${process.pid}`);
    await writeFile(probe, '');
    await rm(probe);
    return created;
  } catch (err) {
    await removeIfEmpty(created);
    const code = (err as NodeJS.ErrnoException).code;
    const why =
      code === 'EEXIST' || code === 'ENOTDIR'
        ? `${existsSync(dir) ? dir : 'part of it'} is a file, not a folder`
        : code === 'EACCES' || code === 'EPERM'
          ? 'permission denied'
          : code === 'EROFS'
            ? 'the file system is read-only'
            : `it cannot be created (${code ?? (err as Error).message})`;
    throw new RnnkitError(`Cannot write to --out ${dir}: ${why}. Choose another --out.`);
  }
}

/** Removes these folders, innermost first, where they are still empty: what a run that failed before training created. */
export async function removeIfEmpty(folders: readonly string[]): Promise<void> {
  for (const d of [...folders].reverse()) await rmdir(d).catch(() => undefined);
}

/** Writes a run's `metrics.json` and its perplexity chart (`perplexity.svg`, titled `title`) into `dir`; returns their paths. */
export async function writeRunFiles(dir: string, metrics: { history: EpochRecord[] }, title: string): Promise<{ metrics: string; plot: string }> {
  const files = { metrics: join(dir, 'metrics.json'), plot: join(dir, 'perplexity.svg') };
  await writeFileAtomic(files.metrics, `${JSON.stringify(metrics, null, 2)}\n`);
  await writeFileAtomic(files.plot, await renderSvg(perplexitySpec(metrics.history, title)));
  return files;
}
