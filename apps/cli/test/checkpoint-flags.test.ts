// With --checkpoint, translate, timeseries and classify use a trained model and do not train: a
// training flag there would be silently ignored, so it is refused before any work (exit code 2),
// naming it; the flags that do apply pass (the run then fails on the missing checkpoint instead).
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { run } from '../src/program.js';

let stderr: string[];
beforeEach(() => {
  stderr = [];
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr.push(String(chunk));
    return true;
  });
});
afterEach(() => {
  vi.restoreAllMocks();
});

async function rnnkit(argv: string[]): Promise<{ code: number; message: string }> {
  const code = await run([...argv, '--backend', 'cpu']);
  return { code, message: stderr.join('').trim().split('\n').at(-1) ?? '' };
}

describe('--checkpoint refuses training flags', () => {
  it.each([
    [['timeseries', '--checkpoint', 'nowhere', '--val-fraction', '0.3'], '--val-fraction has no effect'],
    [['timeseries', '--checkpoint', 'nowhere', '--epochs', '3', '--tau', '8'], '--epochs, --tau have no effect'],
    [['classify', '--checkpoint', 'nowhere', '--text', 'x', '--epochs', '2', '--tokens', 'word'], '--tokens, --epochs have no effect'],
    [['classify', '--checkpoint', 'nowhere', '--text', 'x', '--out', 'o'], '--out has no effect'],
    [['translate', '--checkpoint', 'nowhere', '--num-steps', '5'], '--num-steps has no effect'],
    [['translate', '--checkpoint', 'nowhere', '--lr', '0.1', '--dropout', '0.2'], '--lr, --dropout have no effect'],
  ])('%j', async (argv, named) => {
    const r = await rnnkit(argv);
    expect(r.code).toBe(2);
    expect(r.message).toMatch(/^rnnkit: --checkpoint \w+ with a trained /);
    expect(r.message).toContain(named);
    expect(r.message).toMatch(/Leave (it|them) out \(with --checkpoint: --/);
  });

  it.each([
    ['timeseries', '--checkpoint', 'nowhere', '--csv', 'x.csv', '--column', 'v', '--horizon', '5', '--out', 'o'],
    ['classify', '--checkpoint', 'nowhere', '--text', 'x', '--data', 'x.tsv'],
    ['translate', '--checkpoint', 'nowhere', '--beam', '2', '--alpha', '1', '--sentence', 'x', '--held-out', '0', '--out', 'o'],
  ])('%s with the flags that apply passes the check', async (...argv) => {
    const r = await rnnkit(argv);
    expect(r.message).not.toMatch(/no effect/);
    expect(r.code).toBe(1); // the checkpoint does not exist
    expect(r.message).toMatch(/nowhere/);
  });
});
