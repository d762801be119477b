// Own text through the bin: each preprocessing and token kind round-trips through a checkpoint
// into `rnnkit generate` (all at once and streamed); validation, early stopping and the
// learning-rate schedules.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../dist/bin.js', import.meta.url));
let dir: string;
function rnnkit(args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
/** Starts `rnnkit train`, sends `signal` once `trigger` shows on stdout; resolves with the exit code and output. */
function trainAndSignal(args: string[], trigger: RegExp, signal: NodeJS.Signals): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, 'train', ...args], { cwd: dir });
    let stdout = '';
    let stderr = '';
    let sent = false;
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (!sent && trigger.test(stdout)) {
        sent = true;
        child.kill(signal);
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}
const lastEvent = (stdout: string) => JSON.parse(stdout.trim().split('\n').at(-1) as string);
const modelJson = (path: string) => JSON.parse(readFileSync(join(dir, path, 'model.json'), 'utf8')).userDefinedMetadata.rnnkit;
const tiny = ['--hidden', '16', '--batch-size', '4', '--num-steps', '8', '--max-tokens', '0', '--backend', 'wasm'];
// Many short lines, as a poem or a licence.
const POEM = ['The quick brown fox', 'jumps over the lazy dog.', 'Then the dog sleeps;', 'the fox runs home.', ''].join('\n').repeat(24);

beforeAll(() => {
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run "pnpm build" before the CLI tests.`);
  dir = mkdtempSync(join(tmpdir(), 'rnnkit-own-text-'));
  writeFileSync(join(dir, 'poem.txt'), POEM);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('each text encoding round-trips through a checkpoint into generate', () => {
  it.each([
    ['d2l', 'char', 'The Quick', { preprocess: 'd2l', tokens: 'char', lineBreak: '' }, 'the quick'],
    ['letters', 'char', 'The Quick', { preprocess: 'letters', tokens: 'char', lineBreak: ' ' }, 'the quick'],
    ['raw', 'char', 'lazy dog.\nThen', { preprocess: 'raw', tokens: 'char', lineBreak: '\n' }, 'lazy dog.\nThen'],
    ['d2l', 'word', 'The Fox', { preprocess: 'd2l', tokens: 'word', lineBreak: '' }, 'the fox'],
    ['raw', 'word', 'sleeps;\nthe', { preprocess: 'raw', tokens: 'word', lineBreak: '\n' }, 'sleeps;\nthe'],
  ])(
    '--preprocess %s --tokens %s',
    (preprocess, tokens, prefix, text, seen) => {
      const out = `run-${preprocess}-${tokens}`;
      const train = rnnkit([
        'train',
        ...tiny,
        '--epochs',
        '2',
        '--corpus',
        'poem.txt',
        '--preprocess',
        preprocess,
        '--tokens',
        tokens,
        '--prefix',
        prefix,
        '--out',
        out,
        '--json',
      ]);
      expect(train.code, train.stderr).toBe(0);
      const done = lastEvent(train.stdout);
      // The checkpoint records how the text became tokens.
      expect(modelJson(join(out, 'checkpoint')).config.text).toEqual(text);
      const vocab: string[] = modelJson(join(out, 'checkpoint')).vocab.idxToToken;
      expect(vocab.includes('\n')).toBe(text.lineBreak === '\n');
      // generate continues the prefix exactly as train's own last continuation did.
      const g = rnnkit(['generate', '--checkpoint', out, '--prefix', prefix, '--length', '50', '--backend', 'wasm']);
      expect(g.code, g.stderr).toBe(0);
      expect(g.stdout).toBe(`${done.continuations[0]}\n`);
      expect(g.stdout.startsWith(seen)).toBe(true);
      if (preprocess === 'raw') {
        // Streamed, the same text; without --prefix, the run's own sample prefix.
        const s = rnnkit(['generate', '--checkpoint', out, '--prefix', prefix, '--length', '50', '--stream', '--backend', 'wasm']);
        expect(s.stdout).toBe(g.stdout);
        expect(rnnkit(['generate', '--checkpoint', out, '--length', '50', '--backend', 'wasm']).stdout).toBe(g.stdout);
      }
      if (tokens === 'word') {
        // 50 tokens: words joined with spaces, and line breaks (raw) between them.
        const generated = g.stdout.slice(seen.length, -1);
        const words = generated.split(/[ \n]/).filter((w) => w !== '');
        expect(words.length + (generated.match(/\n/g) ?? []).length).toBe(50);
        expect(words.every((w) => vocab.includes(w))).toBe(true);
        expect(generated).not.toMatch(/ {2}| \n|\n /);
      }
    },
    240_000,
  ); // several runs of the bin each; slow on a loaded machine

  it('samples on a corpus continue its first words and the header says how much of it is used', () => {
    const r = rnnkit(['train', ...tiny, '--max-tokens', '1000', '--epochs', '1', '--corpus', 'poem.txt', '--preprocess', 'raw', '--out', 'header']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`on poem\\.txt \\(1,000 of ${POEM.length.toLocaleString('en-US')} characters, vocab \\d+\\)`));
    expect(r.stdout).toContain(`samples continue "The quick", the corpus' first words (choose another with --prefix)`);
    expect(r.stdout).not.toContain('time traveller');
  }, 240_000);
});

describe('validation, early stopping and learning-rate schedules', () => {
  // The last part of the text is another pattern: validation perplexity falls, then rises.
  const drifting = `${'abcabd '.repeat(600)}${'dcbadb '.repeat(150)}`;

  it('validation perplexity every epoch: progress lines, --json events and metrics.json; checkpoint-best/ beside the latest', () => {
    writeFileSync(join(dir, 'drift.txt'), drifting);
    const r = rnnkit(['train', ...tiny, '--epochs', '3', '--corpus', 'drift.txt', '--val-fraction', '0.2', '--print-every', '1', '--out', 'valid']);
    expect(r.code, r.stderr).toBe(0);
    // d2l's preprocessing trims the one line's last space: 5,249 characters, 1,050 of them held out.
    expect(r.stdout).toMatch(/\(all 5,249 characters, vocab 6; validation: the last 1,050\)/);
    expect(r.stdout).toMatch(/^epoch 1\/3 {2}perplexity [\d.]+ {2}validation [\d.]+ \(best\)/m);
    const metrics = JSON.parse(readFileSync(join(dir, 'valid', 'metrics.json'), 'utf8'));
    expect(metrics.history.every((h: { validationPerplexity?: number }) => typeof h.validationPerplexity === 'number')).toBe(true);
    expect(metrics.tokens).toEqual({ used: 5249, total: 5249, validation: 1050 });
    expect(existsSync(join(dir, 'valid', 'checkpoint-best', 'model.json'))).toBe(true);
    expect(readFileSync(join(dir, 'valid', 'perplexity.svg'), 'utf8')).toContain('validation');
    const json = rnnkit(['train', ...tiny, '--epochs', '2', '--corpus', 'drift.txt', '--val-fraction', '0.2', '--out', 'valid-json', '--json']);
    const epochs = json.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l))
      .filter((e) => e.event === 'epoch');
    expect(epochs.map((e) => typeof e.validationPerplexity)).toEqual(['number', 'number']);
    expect(epochs[0].best).toEqual({ epoch: 1, validationPerplexity: epochs[0].validationPerplexity });
  }, 240_000);

  it('--patience stops when validation stops improving and ends on the best epoch, read back from checkpoint-best/', () => {
    const r = rnnkit([
      'train',
      ...tiny,
      ...['--epochs', '60', '--lr', '2', '--corpus', 'drift.txt', '--val-fraction', '0.2', '--patience', '2', '--prefix', 'abcabd', '--out', 'early', '--json'],
    ]);
    expect(r.code, r.stderr).toBe(0);
    const done = lastEvent(r.stdout);
    expect(done.earlyStopped).toBe(true);
    expect(done.epochsDone).toBe(done.best.epoch + 2);
    expect(done.epochsDone).toBeLessThan(60);
    const best = modelJson(join('early', 'checkpoint-best'));
    expect(best.training.epoch).toBe(done.best.epoch);
    expect(modelJson(join('early', 'checkpoint')).training.epoch).toBe(done.epochsDone);
    // The run's continuation is the best epoch's: generate on the run folder reads checkpoint-best/.
    const prefix = ['--prefix', 'abcabd', '--length', '50', '--backend', 'wasm'];
    const fromBest = rnnkit(['generate', '--checkpoint', 'early', ...prefix]);
    expect(fromBest.stderr).toMatch(/holds the run's best epoch/);
    expect(fromBest.stdout).toBe(`${done.continuations[0]}\n`);
    expect(rnnkit(['generate', '--checkpoint', join('early', 'checkpoint-best'), ...prefix]).stdout).toBe(fromBest.stdout);
    const noValidation = rnnkit(['train', ...tiny, '--epochs', '2', '--patience', '2', '--out', 'no-val']);
    expect(noValidation.code).toBe(2);
    expect(noValidation.stderr).toMatch(/--patience 2 stops on validation perplexity: give --val-fraction too/);
  }, 240_000);

  // Every schedule resumes bit for bit in @rnnkit/training's tests; here the cosine one, through the checkpoint and a SIGTERM.
  it.each([['cosine', ['--lr-schedule', 'cosine', '--lr-min', '0.1']]])(
    '--lr-schedule %s: a run stopped by SIGTERM and resumed gives the weights of one uninterrupted run, bit for bit',
    async (name, schedule) => {
      const args = [...tiny, '--max-tokens', '3000', '--epochs', '12', '--print-every', '1', ...schedule];
      const whole = rnnkit(['train', ...args, '--out', `${name}-whole`]);
      expect(whole.code, whole.stderr).toBe(0);
      const stopped = await trainAndSignal([...args, '--out', `${name}-resumed`], /^epoch 2\/12/m, 'SIGTERM');
      expect(stopped.code, stopped.stderr).toBe(143);
      const resumed = rnnkit(['train', '--resume', `${name}-resumed`, '--backend', 'wasm']);
      expect(resumed.code, resumed.stderr).toBe(0);
      const weights = (out: string) => readFileSync(join(dir, out, 'checkpoint', 'weights.bin'));
      expect(weights(`${name}-resumed`).equals(weights(`${name}-whole`))).toBe(true);
      expect(modelJson(join(`${name}-resumed`, 'checkpoint')).training.training.lrSchedule.kind).toBe(name);
      const rates = (out: string) => JSON.parse(readFileSync(join(dir, out, 'metrics.json'), 'utf8')).history.map((h: { lr: number }) => h.lr);
      expect(rates(`${name}-resumed`)).toEqual(rates(`${name}-whole`));
      expect(new Set(rates(`${name}-whole`)).size).toBeGreaterThan(1);
      // A resumed run keeps its schedule: another one is refused, naming both.
      const other = rnnkit(['train', '--resume', `${name}-resumed`, '--epochs', '14', '--lr-schedule', 'constant', '--backend', 'wasm']);
      expect(other.code).toBe(2);
      expect(other.stderr).toMatch(new RegExp(`--lr-schedule constant \\(the checkpoint has ${name}\\)`));
    },
    240_000,
  );
});
