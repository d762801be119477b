// Never a wrong model, never a lost run, through the built bin: a run folder holding only what a
// crash left, two processes on one folder, special files as corpus, a resume from another
// folder with a relative corpus (and an edited one), and a checkpoint without checksums.
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userEnv } from './user-env.js';

const bin = fileURLToPath(new URL('../dist/bin.js', import.meta.url));
let dir: string;

function rnnkit(args: string[], cwd = dir) {
  const started = Date.now();
  const r = spawnSync(process.execPath, [bin, ...args], { cwd, encoding: 'utf8', timeout: 120_000, env: userEnv });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, seconds: (Date.now() - started) / 1000 };
}
const tiny = ['--hidden', '8', '--batch-size', '8', '--num-steps', '10', '--max-tokens', '1500', '--backend', 'wasm'];
const BOOK = 'the time traveller for so it will be convenient to speak of him was expounding a recondite matter to us\n'.repeat(30);

beforeAll(() => {
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run "pnpm build" before the CLI tests.`);
  dir = mkdtempSync(join(tmpdir(), 'rnnkit-reliability-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('crash leftovers and one writer per run folder', () => {
  it('a folder whose only checkpoint is a crash leftover holds a run: --out refuses it, --resume recovers it', () => {
    expect(rnnkit(['train', ...tiny, '--epochs', '2', '--out', 'crashed']).code).toBe(0);
    // What a kill between the two renames of a save leaves: the folder moved aside, no checkpoint/, no metrics.
    renameSync(join(dir, 'crashed', 'checkpoint'), join(dir, 'crashed', '.checkpoint.old-999999-3'));
    rmSync(join(dir, 'crashed', 'metrics.json'));
    const again = rnnkit(['train', ...tiny, '--epochs', '1', '--out', 'crashed']);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/--out crashed already holds a run: continue it with .*train --resume crashed/);
    expect(existsSync(join(dir, 'crashed', '.checkpoint.old-999999-3', 'model.json'))).toBe(true);
    const resumed = rnnkit(['train', '--resume', 'crashed', '--epochs', '3', '--backend', 'wasm']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(resumed.stdout).toMatch(/resuming .*\.checkpoint\.old-999999-3\/model\.json at epoch 2 of 3/);
  }, 240_000);

  /** Starts `rnnkit <args>` in the background and waits for its first epoch. */
  async function training(args: string[]): Promise<ChildProcess> {
    const child = spawn(process.execPath, [bin, ...args], { cwd: dir, env: userEnv });
    await new Promise<void>((resolve, reject) => {
      let out = '';
      child.stdout?.on('data', (d: Buffer) => {
        out += d.toString();
        if (/^epoch \d+\//m.test(out)) resolve();
      });
      child.on('exit', (code) => reject(new Error(`the first run exited (${code})`)));
    });
    return child;
  }

  it('two processes on one folder: the second is refused naming the first, with --force and with --resume alike', async () => {
    const first = await training(['train', ...tiny, '--epochs', '100000', '--print-every', '1', '--out', 'busy']);
    try {
      for (const args of [
        ['train', ...tiny, '--epochs', '1', '--out', 'busy', '--force'],
        ['train', '--resume', 'busy', '--epochs', '100001', '--backend', 'wasm'],
      ]) {
        const second = rnnkit(args);
        expect(second.code, args.join(' ')).toBe(1);
        expect(second.stderr).toMatch(new RegExp(`rnnkit: --out .*busy is in use by another process: rnnkit train .*--out busy \\(pid ${first.pid}, since `));
      }
      expect(existsSync(join(dir, 'busy', '.rnnkit-lock'))).toBe(true);
    } finally {
      first.kill('SIGKILL');
      await new Promise((resolve) => first.on('close', resolve));
    }
    // Its process gone, its lock is taken over.
    const after = rnnkit(['train', ...tiny, '--epochs', '1', '--out', 'busy', '--force']);
    expect(after.code, after.stderr).toBe(0);
    // A resumed run holds its folder while it trains.
    const resumed = await training(['train', '--resume', 'busy', '--epochs', '100000', '--print-every', '1', '--backend', 'wasm']);
    try {
      const second = rnnkit(['train', ...tiny, '--epochs', '1', '--out', 'busy', '--force']);
      expect(second.code).toBe(1);
      expect(second.stderr).toMatch(
        new RegExp(`rnnkit: --out .*busy is in use by another process: rnnkit train --resume busy .*\\(pid ${resumed.pid}, since `),
      );
    } finally {
      resumed.kill('SIGKILL');
      await new Promise((resolve) => resumed.on('close', resolve));
    }
  }, 240_000);
});

describe('special files and the corpus of a resumed run', () => {
  it('/dev/zero and a FIFO as --corpus are refused at once, naming the file', () => {
    execFileSync('mkfifo', [join(dir, 'pipe.txt')]);
    for (const corpus of ['/dev/zero', 'pipe.txt']) {
      const r = rnnkit(['train', ...tiny, '--epochs', '1', '--corpus', corpus, '--out', `special-${corpus.length}`]);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`The corpus file ${corpus} is (a character device|a FIFO \\(named pipe\\)): rnnkit reads only regular files\\.`));
      expect(r.seconds).toBeLessThan(60);
    }
  }, 240_000);

  it('a resume from another folder reads the relative corpus where the run found it; an edited corpus is refused naming both hashes', () => {
    mkdirSync(join(dir, 'project'));
    writeFileSync(join(dir, 'project', 'book.txt'), BOOK);
    expect(rnnkit(['train', ...tiny, '--epochs', '2', '--corpus', 'book.txt', '--out', 'run'], join(dir, 'project')).code).toBe(0);
    // Elsewhere a book.txt with other text: the recorded one is read, not this one.
    mkdirSync(join(dir, 'elsewhere'));
    writeFileSync(join(dir, 'elsewhere', 'book.txt'), 'a different book altogether\n'.repeat(80));
    const resumed = rnnkit(['train', '--resume', '../project/run', '--epochs', '3', '--backend', 'wasm'], join(dir, 'elsewhere'));
    expect(resumed.code, resumed.stderr).toBe(0);
    // Moved: a --corpus at another path with the same text is accepted.
    cpSync(join(dir, 'project', 'book.txt'), join(dir, 'elsewhere', 'same.txt'));
    rmSync(join(dir, 'project', 'book.txt'));
    const moved = rnnkit(['train', '--resume', '../project/run', '--epochs', '4', '--corpus', 'same.txt', '--backend', 'wasm'], join(dir, 'elsewhere'));
    expect(moved.code, moved.stderr).toBe(0);
    // Edited: refused, naming the recorded hash and the file's.
    writeFileSync(join(dir, 'elsewhere', 'same.txt'), `${BOOK}one more line\n`);
    const edited = rnnkit(['train', '--resume', '../project/run', '--epochs', '5', '--corpus', 'same.txt', '--backend', 'wasm'], join(dir, 'elsewhere'));
    expect(edited.code).toBe(1);
    expect(edited.stderr).toMatch(/The corpus of .* is .*same\.txt, SHA-256 [0-9a-f]{64} .*same\.txt has SHA-256 [0-9a-f]{64}/);
    expect(edited.stdout).not.toMatch(/resuming/);
  }, 240_000);
});

describe('checkpoints without checksums', () => {
  it('are refused unless --allow-unverified; rnnkit migrate writes a verified copy', () => {
    expect(rnnkit(['train', ...tiny, '--epochs', '1', '--out', 'old']).code).toBe(0);
    // rnnkit's first layout: no layout, no checksums, the CLI's config names.
    const file = join(dir, 'old', 'checkpoint', 'model.json');
    const json = JSON.parse(readFileSync(file, 'utf8'));
    const { config: c, vocab, training } = json.userDefinedMetadata.rnnkit;
    json.userDefinedMetadata.rnnkit = {
      kind: 'language-model',
      config: {
        model: c.cell,
        impl: c.implementation,
        hidden: c.numHiddens,
        layers: c.numLayers,
        bidirectional: c.bidirectional,
        vocabSize: c.vocabSize,
        seed: c.seed,
      },
      vocab,
      ...training,
    };
    writeFileSync(file, JSON.stringify(json));
    rmSync(join(dir, 'old', 'checkpoint', 'optimizer.json'));
    rmSync(join(dir, 'old', 'checkpoint', 'optimizer.bin'));
    const refused = rnnkit(['generate', '--checkpoint', 'old', '--length', '5', '--backend', 'wasm']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/records no checksums.*rnnkit migrate --checkpoint old --out NEW_FOLDER.*--allow-unverified/);
    expect(rnnkit(['generate', '--checkpoint', 'old', '--length', '5', '--allow-unverified', '--backend', 'wasm']).code).toBe(0);
    const migrated = rnnkit(['migrate', '--checkpoint', 'old', '--out', 'verified', '--backend', 'wasm']);
    expect(migrated.code, migrated.stderr).toBe(0);
    expect(migrated.stdout).toMatch(
      /migrated language-model checkpoint \([\d,]+ weights\) to verified\/checkpoint: written with SHA-256 checksums, read back and compared/,
    );
    const a = rnnkit(['generate', '--checkpoint', 'verified', '--length', '20', '--backend', 'wasm']);
    const b = rnnkit(['generate', '--checkpoint', 'old', '--length', '20', '--allow-unverified', '--backend', 'wasm']);
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
  }, 240_000);
});
