// Recovery at any number of crashes (leftovers built on disk as crashed saves leave them), and
// special files in place of checkpoint files, refused within a time limit.
import { execFileSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Vocab } from '@rnnkit/data';
import { createLanguageModel, type LanguageModelConfig } from '@rnnkit/models';
import { useBackend } from '../../../test/backends.js';
import { CheckpointError, checkpointLeftovers, loadLanguageModel, parseCheckpointLeftover, saveLanguageModel } from './node.js';

const vocab = new Vocab(Array.from('the time traveller for so it will be convenient'));
const config: LanguageModelConfig = { cell: 'gru', implementation: 'fused', numHiddens: 6, numLayers: 1, bidirectional: false, vocabSize: vocab.size, seed: 4 };
let dir: string;
let good: string;
beforeAll(async () => {
  await useBackend('cpu');
  dir = mkdtempSync(join(tmpdir(), 'rnnkit-recovery-'));
  good = join(dir, 'good');
  const model = createLanguageModel(config);
  await saveLanguageModel(good, { model, vocab, config, training: { epoch: 2 } });
  model.dispose();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A leftover `name` in `run`, a copy of the good checkpoint at epoch `epoch` written `age` seconds ago. */
function leftover(run: string, name: string, age: number, damage?: (folder: string) => void): string {
  const folder = join(run, name);
  cpSync(good, folder, { recursive: true });
  damage?.(folder);
  const t = Date.now() / 1000 - age;
  utimesSync(join(folder, 'model.json'), t, t);
  return folder;
}

const loaded = async (path: string) => {
  const m = await loadLanguageModel(path);
  m.model.dispose();
  return m;
};

describe('recovery picks the newest complete, verified checkpoint', () => {
  it('two crashes: a complete .tmp-…-2 and a newer .tmp-…-3 whose model.json is empty: the complete one, not "invalid JSON"', async () => {
    const run = join(dir, 'two-crashes');
    mkdirSync(run);
    const complete = leftover(run, '.checkpoint.tmp-4242-2', 20);
    leftover(run, '.checkpoint.tmp-4242-3', 10, (f) => writeFileSync(join(f, 'model.json'), ''));
    const m = await loaded(run);
    expect(m.source).toBe(join(complete, 'model.json'));
    expect(m.training).toEqual({ epoch: 2 });
    expect(m.skipped).toHaveLength(1);
    expect(m.skipped?.[0]).toMatch(/\.checkpoint\.tmp-4242-3\/model\.json is not valid JSON/);
  });

  it('any number of crashes: newer leftovers damaged every way, the folder itself damaged, the oldest good one loads', async () => {
    const run = join(dir, 'many-crashes');
    mkdirSync(run);
    leftover(run, 'checkpoint', 30, (f) => writeFileSync(join(f, 'weights.bin'), readFileSync(join(f, 'weights.bin')).subarray(8)));
    const oldest = leftover(run, '.checkpoint.old-77-1', 40);
    leftover(run, '.checkpoint.tmp-77-5', 5, (f) => writeFileSync(join(f, 'model.json'), '{"format":'));
    leftover(run, '.checkpoint.tmp-77-4', 10, (f) => {
      const bin = readFileSync(join(f, 'weights.bin'));
      bin[5] = (bin[5] as number) ^ 0xff;
      writeFileSync(join(f, 'weights.bin'), bin);
    });
    leftover(run, '.checkpoint.old-77-3', 20, (f) => rmSync(join(f, 'weights.bin')));
    mkdirSync(join(run, '.checkpoint.tmp-77-6')); // incomplete: no model.json at all
    const m = await loaded(run);
    expect(m.source).toBe(join(oldest, 'model.json'));
    expect(m.skipped).toHaveLength(4);
    // Named, newest first: the invalid JSON, the checksum, the missing file, the truncated folder.
    expect(m.skipped?.[0]).toMatch(/tmp-77-5.*not valid JSON/);
    expect(m.skipped?.[1]).toMatch(/tmp-77-4.*weights\.bin does not match the SHA-256/);
    expect(m.skipped?.[2]).toMatch(/old-77-3.*weights\.bin is missing/);
    expect(m.skipped?.[3]).toMatch(/checkpoint\/weights\.bin holds \d+ bytes, the manifest needs/);
    expect((await checkpointLeftovers(join(run, 'checkpoint'))).length).toBe(5);
  });

  it('tells a leftover by its name: what it is and whose save left it', () => {
    expect(parseCheckpointLeftover('.checkpoint.tmp-4242-2')).toEqual({ kind: 'tmp', pid: 4242 });
    expect(parseCheckpointLeftover('.checkpoint.old-77-1')).toEqual({ kind: 'old', pid: 77 });
    expect(parseCheckpointLeftover('.best.model.tmp-5-1', 'best.model')).toEqual({ kind: 'tmp', pid: 5 });
    for (const name of ['checkpoint', '.checkpoint.tmp-1', '.checkpoint.new-1-2', '.checkpoint.tmp-1-2x', '.other.tmp-1-2'])
      expect(parseCheckpointLeftover(name)).toBeNull();
    expect(parseCheckpointLeftover('.bestxmodel.tmp-5-1', 'best.model')).toBeNull(); // the dot is a dot
  });

  it("with nothing good left, the error is the newest copy's", async () => {
    const run = join(dir, 'none-good');
    mkdirSync(run);
    leftover(run, '.checkpoint.tmp-9-2', 10, (f) => writeFileSync(join(f, 'model.json'), 'x'));
    leftover(run, '.checkpoint.tmp-9-1', 20, (f) => writeFileSync(join(f, 'model.json'), 'y'));
    await expect(loadLanguageModel(run)).rejects.toThrow(/tmp-9-2\/model\.json is not valid JSON/);
  });

  it('an intact folder beside an older leftover: the folder', async () => {
    const run = join(dir, 'intact');
    mkdirSync(run);
    const folder = leftover(run, 'checkpoint', 5);
    leftover(run, '.checkpoint.old-3-1', 50);
    const m = await loaded(run);
    expect(m.source).toBe(join(folder, 'model.json'));
    expect(m.skipped).toBeUndefined();
  });
});

describe('special files in place of checkpoint files are refused at once', () => {
  const within = async (path: string, pattern: RegExp) => {
    const started = Date.now();
    const err = await loadLanguageModel(path).then(
      () => null,
      (e: unknown) => e,
    );
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(err).toBeInstanceOf(CheckpointError);
    expect((err as Error).message).toMatch(pattern);
  };

  it('weights.bin or model.json as /dev/zero', async () => {
    for (const file of ['weights.bin', 'model.json']) {
      const folder = join(dir, `zero-${file}`);
      cpSync(good, folder, { recursive: true });
      rmSync(join(folder, file));
      symlinkSync('/dev/zero', join(folder, file));
      await within(
        folder,
        new RegExp(`Unreadable checkpoint: .*zero-${file}/${file.replace('.', '\\.')} is a character device: rnnkit reads only regular files`),
      );
    }
  });

  it('weights.bin or model.json as a FIFO with no writer', async () => {
    for (const file of ['weights.bin', 'model.json']) {
      const folder = join(dir, `fifo-${file}`);
      cpSync(good, folder, { recursive: true });
      rmSync(join(folder, file));
      execFileSync('mkfifo', [join(folder, file)]);
      await within(folder, /is a FIFO \(named pipe\): rnnkit reads only regular files/);
    }
  });
});
