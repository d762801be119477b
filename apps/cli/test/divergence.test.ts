// How every training command but train ends after divergence: the library loops' typed error and
// the CLI's own rule give the same one-line message and metrics.json record; other errors pass.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TrainingDivergedError } from '@rnnkit/training';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { divergenceCheck, trainingFailure } from '../src/divergence.js';
import { RnnkitError } from '../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'rnnkit-divergence-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('trainingFailure', () => {
  it("turns a library loop's TrainingDivergedError into the message, after cleanup, recording it in metrics.json", async () => {
    const cleanup = vi.fn();
    const file = join(dir, 'new-folder', 'metrics.json');
    const err = await trainingFailure(new TrainingDivergedError(2, Number.NaN), {
      what: 'loss per token',
      lr: 5,
      kept: 'nothing was saved.',
      metrics: { file, record: { history: [1] } },
      cleanup,
    });
    expect(err).toBeInstanceOf(RnnkitError);
    expect((err as Error).message).toBe(
      'Training diverged: the loss per token became NaN at epoch 2; --lr 5 is probably too high. Stopped; nothing was saved.',
    );
    expect(cleanup).toHaveBeenCalledOnce();
    expect(readFileSync(file, 'utf8')).toBe(`${JSON.stringify({ history: [1], diverged: { epoch: 2, loss: 'NaN' } }, null, 2)}\n`);
  });

  it("words the CLI's own rule the same way, with the limit", async () => {
    let thrown: unknown;
    try {
      divergenceCheck(Math.log(2), 'loss')(3, 9);
    } catch (e) {
      thrown = e;
    }
    const err = await trainingFailure(thrown, { what: 'ignored', lr: 1000, kept: 'seed 0 did not finish.' });
    expect((err as Error).message).toBe(
      "Training diverged: the loss became 9 at epoch 3, more than 5 times an untrained model's (0.693); --lr 1000 is probably too high. Stopped; seed 0 did not finish.",
    );
  });

  it('returns any other error as it is, or as a user error naming --lr, and writes nothing', async () => {
    const cleanup = vi.fn();
    const file = join(dir, 'other', 'metrics.json');
    const other = new RangeError('The learning rate must be a number >= 0, got -1.');
    const end = { what: 'loss', lr: 1, kept: '', metrics: { file, record: {} }, cleanup };
    expect(await trainingFailure(other, end)).toBe(other);
    const user = await trainingFailure(other, { ...end, userError: true });
    expect(user).toBeInstanceOf(RnnkitError);
    expect((user as Error).message).toBe('The learning rate (--lr) must be a number >= 0, got -1.');
    expect(cleanup).not.toHaveBeenCalled();
    expect(existsSync(file)).toBe(false);
  });
});
