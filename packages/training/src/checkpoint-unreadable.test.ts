// Unreadable files are reported as unreadable, not as missing or invalid JSON.
// Tests run as root here, where chmod does not stop reads, so opening the file is made to fail as it
// does for a user without permission; the chmod variant runs where it can.
import { chmodSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Vocab } from '@rnnkit/data';
import { createLanguageModel, type LanguageModelConfig } from '@rnnkit/models';
import { useBackend } from '../../../test/backends.js';
import { loadLanguageModel, saveLanguageModel } from './node.js';

const denied = vi.hoisted(() => ({ suffix: '', full: '' }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs/promises')>();
  const open = (async (path: Parameters<typeof fs.open>[0], ...rest: unknown[]) => {
    if (denied.suffix && String(path).endsWith(denied.suffix)) {
      throw Object.assign(new Error(`EACCES: permission denied, open '${String(path)}'`), { code: 'EACCES', errno: -13, path: String(path) });
    }
    // A full disk: the write of this file fails as write(2) does with ENOSPC.
    if (denied.full && String(path).endsWith(denied.full) && rest[0] === 'w') {
      const handle = await (fs.open as (...a: unknown[]) => Promise<import('node:fs/promises').FileHandle>)(path, ...rest);
      return Object.assign(Object.create(handle), {
        writeFile: async () => {
          throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC', errno: -28, syscall: 'write' });
        },
        close: () => handle.close(),
      });
    }
    return (fs.open as (...a: unknown[]) => unknown)(path, ...rest);
  }) as typeof fs.open;
  return { ...fs, open, default: { ...fs, open } };
});

const vocab = new Vocab(Array.from('the time traveller'));
const config: LanguageModelConfig = {
  cell: 'rnn',
  implementation: 'scratch',
  numHiddens: 4,
  numLayers: 1,
  bidirectional: false,
  vocabSize: vocab.size,
  seed: 0,
};
let dir: string;
beforeAll(async () => {
  await useBackend('cpu');
  dir = mkdtempSync(join(tmpdir(), 'rnnkit-unreadable-'));
  const model = createLanguageModel(config);
  await saveLanguageModel(join(dir, 'checkpoint'), { model, vocab, config });
  model.dispose();
});
afterAll(() => {
  denied.suffix = '';
  denied.full = '';
  rmSync(dir, { recursive: true, force: true });
});

describe('unreadable checkpoint files', () => {
  it.each(['model.json', 'weights.bin'])('%s without read permission is "cannot be read (permission denied, EACCES)"', async (file) => {
    denied.suffix = file;
    try {
      await expect(loadLanguageModel(join(dir, 'checkpoint'))).rejects.toThrow(
        `Unreadable checkpoint: ${join(dir, 'checkpoint', file)} cannot be read (permission denied, EACCES).`,
      );
    } finally {
      denied.suffix = '';
    }
  });

  it.skipIf(process.getuid?.() === 0)('the same with a real chmod 000 (not as root)', async () => {
    chmodSync(join(dir, 'checkpoint', 'weights.bin'), 0o000);
    try {
      await expect(loadLanguageModel(join(dir, 'checkpoint'))).rejects.toThrow(/weights\.bin cannot be read \(permission denied, EACCES\)/);
    } finally {
      chmodSync(join(dir, 'checkpoint', 'weights.bin'), 0o644);
    }
  });
});

describe('a save that fails (a full disk)', () => {
  it('names the file and says the previous checkpoint is intact; the previous one still loads', async () => {
    const model = createLanguageModel({ ...config, seed: 9 });
    denied.full = 'weights.bin';
    try {
      await expect(saveLanguageModel(join(dir, 'checkpoint'), { model, vocab, config, training: { epoch: 2 } })).rejects.toThrow(
        new RegExp(
          `^Cannot write ${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/\\.checkpoint\\.tmp-\\d+-\\d+/weights\\.bin: no space left on the device \\(ENOSPC\\)\\. The previous checkpoint in .*checkpoint is intact\\.$`,
        ),
      );
      await expect(saveLanguageModel(join(dir, 'fresh'), { model, vocab, config })).rejects.toThrow(/No checkpoint was written to .*fresh\./);
    } finally {
      denied.full = '';
    }
    const loaded = await loadLanguageModel(join(dir, 'checkpoint'));
    expect(loaded.training).toBeUndefined();
    expect(readdirSync(dir).sort()).toEqual(['checkpoint']);
    loaded.model.dispose();
    model.dispose();
  });
});
