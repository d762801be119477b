// A run is never lost, and values that would break later are refused up front: signals, --out,
// resume settings, writability, divergence and limits, through the built `rnnkit` bin as a user
// runs it.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { userEnv } from './user-env.js';

const bin = fileURLToPath(new URL('../dist/bin.js', import.meta.url));
let dir: string;

function rnnkit(args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: dir, encoding: 'utf8', timeout: 120_000, env: userEnv });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const tiny = ['--hidden', '16', '--batch-size', '8', '--num-steps', '10', '--max-tokens', '2000', '--backend', 'wasm'];
const metricsText = (out: string) => readFileSync(join(dir, out, 'metrics.json'), 'utf8');
const metricsOf = (out: string) =>
  JSON.parse(metricsText(out)) as { epochsDone: number; interrupted: boolean; history: { epoch: number }[]; training: { epochs: number } };
const checkpointEpoch = (out: string): number =>
  JSON.parse(readFileSync(join(dir, out, 'checkpoint', 'model.json'), 'utf8')).userDefinedMetadata.rnnkit.training.epoch as number;

/** Starts `rnnkit train`, sends `signal` once `trigger` shows on stdout; resolves with the exit code and output. */
function trainAndSignal(args: string[], trigger: RegExp, signal: NodeJS.Signals): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, 'train', ...args], { cwd: dir, env: userEnv });
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

beforeAll(() => {
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run "pnpm build" before the CLI tests.`);
  dir = mkdtempSync(join(tmpdir(), 'rnnkit-runs-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('signals and resume (items 2, 4)', () => {
  it('SIGTERM finishes the epoch, saves and exits 143; the printed command continues to the same target epochs', async () => {
    const args = [...tiny, '--epochs', '40', '--checkpoint-every', '100', '--print-every', '1', '--out', 'term'];
    const r = await trainAndSignal(args, /^epoch 2\/40/m, 'SIGTERM');
    expect(r.code, r.stderr).toBe(143);
    expect(r.stderr).toMatch(/Interrupted \(SIGTERM\): finishing this epoch, then saving a checkpoint/);
    const m = metricsOf('term');
    expect(m.interrupted).toBe(true);
    expect(m.epochsDone).toBeGreaterThanOrEqual(2);
    expect(m.epochsDone).toBeLessThan(40);
    expect(checkpointEpoch('term')).toBe(m.epochsDone);
    // The "Continue with" line is complete: it names the target epochs and the non-default run options.
    // It runs the bin as the user did (`node <path from where they stand>`), with the run folder as they name it.
    const line = /Continue with: node (\S+) (.*)$/m.exec(r.stdout);
    expect(line?.[2]).toBe('train --resume term --epochs 40 --print-every 1 --checkpoint-every 100 --backend wasm');
    expect(resolve(dir, line?.[1] ?? '')).toBe(bin);
  }, 240_000); // several runs of the bin each; slow on a loaded machine

  it("--resume without --epochs trains to the checkpoint's target (40), not the default 500", () => {
    const r = rnnkit(['train', '--resume', 'term', '--backend', 'wasm', '--print-every', '100']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/resuming \S*term\S* at epoch \d+ of 40/);
    const m = metricsOf('term');
    expect(m.epochsDone).toBe(40);
    expect(m.history.map((h) => h.epoch)).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    expect(m.interrupted).toBe(false);
  }, 240_000); // several runs of the bin each; slow on a loaded machine

  it('options that conflict with the checkpoint are an error naming them, and nothing "resuming" is printed first', () => {
    writeFileSync(join(dir, 'other.txt'), 'another book entirely '.repeat(200));
    const r = rnnkit([
      'train',
      '--resume',
      'term',
      '--epochs',
      '60',
      '--corpus',
      'other.txt',
      '--lr',
      '0.5',
      '--optimizer',
      'adam',
      '--hidden',
      '64',
      '--model',
      'lstm',
      '--backend',
      'wasm',
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    for (const flag of [
      '--model lstm (the checkpoint has gru)',
      '--hidden 64 (the checkpoint has 16)',
      '--lr 0.5 (the checkpoint has 1)',
      '--optimizer adam (the checkpoint has sgd)',
      '--corpus other.txt (the checkpoint has none)',
    ]) {
      expect(r.stderr).toContain(flag);
    }
    expect(r.stdout).not.toMatch(/resuming/);
    // The same values as the checkpoint are no conflict; fewer epochs than done is an error, again before any "resuming" line.
    const fewer = rnnkit(['train', '--resume', 'term', ...tiny, '--epochs', '5']);
    expect(fewer.code).toBe(2);
    expect(fewer.stderr).toMatch(/at epoch 40; --epochs 5 is fewer/);
    expect(fewer.stdout).not.toMatch(/resuming/);
  }, 240_000); // several runs of the bin each; slow on a loaded machine
});

describe('--out (items 3, 6, 8)', () => {
  it('refuses a folder that holds a run unless --force; plain runs get their own folders', () => {
    expect(rnnkit(['train', ...tiny, '--epochs', '2', '--out', 'kept']).code).toBe(0);
    const before = metricsText('kept');
    const again = rnnkit(['train', ...tiny, '--epochs', '1', '--out', 'kept']);
    expect(again.code).toBe(2);
    const hint = /--out kept already holds a run: continue it with "node (\S+) train --resume kept", replace it with --force, or choose another --out\./.exec(
      again.stderr,
    );
    expect(resolve(dir, hint?.[1] ?? ''), again.stderr).toBe(bin);
    expect(metricsText('kept')).toBe(before);
    expect(rnnkit(['train', ...tiny, '--epochs', '1', '--out', 'kept', '--force']).code).toBe(0);
    expect(metricsOf('kept').epochsDone).toBe(1);
    // Without --out: runs/train, then runs/train-2.
    for (const expected of ['runs/train', 'runs/train-2']) {
      const r = rnnkit(['train', ...tiny, '--epochs', '1']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain(`files: ${expected}/metrics.json`);
    }
    expect(metricsOf('runs/train').epochsDone).toBe(1);
  }, 240_000); // several runs of the bin each; slow on a loaded machine

  it('an --out that cannot be written fails before training, naming the flag', () => {
    writeFileSync(join(dir, 'a-file'), 'not a folder');
    for (const [out, why] of [
      ['a-file', 'a-file is a file, not a folder'],
      ['a-file/sub', 'part of it is a file, not a folder'],
      ['/proc/rnnkit-test', 'it cannot be created'],
    ]) {
      const r = rnnkit(['train', ...tiny, '--epochs', '1', '--out', out!]);
      expect(r.code, out).toBe(1);
      expect(r.stderr).toContain(`rnnkit: Cannot write to --out ${out}: ${why}`);
      expect(r.stdout).not.toMatch(/training|epoch/);
    }
    expect(statSync(join(dir, 'a-file')).isFile()).toBe(true);
  }, 240_000); // several runs of the bin each; slow on a loaded machine

  it('a run that fails before training leaves no empty folder behind (missing or binary corpus)', () => {
    writeFileSync(join(dir, 'binary.dat'), Buffer.from([0, 1, 2, 0, 255]));
    for (const [corpus, out] of [
      ['missing.txt', 'failed/missing/run'],
      ['binary.dat', 'failed/binary/run'],
    ]) {
      const r = rnnkit(['train', ...tiny, '--epochs', '1', '--corpus', corpus!, '--out', out!]);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain(corpus);
      expect(existsSync(join(dir, 'failed')), out).toBe(false);
    }
    // A folder that was there before stays, empty or not.
    mkdirSync(join(dir, 'existing'));
    expect(rnnkit(['train', ...tiny, '--epochs', '1', '--corpus', 'missing.txt', '--out', 'existing/run']).code).toBe(1);
    expect(readdirSync(join(dir, 'existing'))).toEqual([]);
  }, 240_000); // several runs of the bin each; slow on a loaded machine
});

describe('values that break later (item 8)', () => {
  it('--hidden 65536 (the most --hidden takes) is refused with a memory estimate and a limit', () => {
    const r = rnnkit(['train', ...tiny, '--hidden', '65536', '--out', 'huge']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^rnnkit: --hidden 65536 needs about [\d.]+ GiB to train .*: use --hidden \d+ or less\.$/m);
    expect(existsSync(join(dir, 'huge', 'metrics.json'))).toBe(false);
  }, 240_000); // several runs of the bin each; slow on a loaded machine

  it('a diverging run stops with a clear message, keeps the last good checkpoint and writes no null', () => {
    // lr 16 gives a perplexity of about 3e6 at epoch 1 and an exploded one (more than 28^5, the
    // divergence limit: 5 times the untrained loss) at epoch 2 on this seed.
    const r = rnnkit(['train', ...tiny, '--lr', '16', '--epochs', '8', '--checkpoint-every', '1', '--out', 'diverged']);
    expect(r.code).toBe(1);
    const msg =
      /^rnnkit: Training diverged: the perplexity became ([\d.e+]+|Infinity|NaN) at epoch (\d+) \(--lr 16 is probably too high\)\. Stopped; the last good checkpoint \(epoch (\d+)\) is kept in diverged\/checkpoint\.$/m.exec(
        r.stderr,
      );
    expect(msg, r.stderr).not.toBeNull();
    const [badEpoch, goodEpoch] = [Number(msg![2]), Number(msg![3])];
    expect(goodEpoch).toBe(badEpoch - 1);
    expect(checkpointEpoch('diverged')).toBe(goodEpoch);
    const text = metricsText('diverged');
    expect(text).not.toContain('null');
    expect(JSON.parse(text).diverged).toEqual({ epoch: badEpoch, checkpointEpoch: goodEpoch });
    // The kept checkpoint still loads.
    expect(rnnkit(['generate', '--checkpoint', 'diverged', '--length', '3', '--backend', 'wasm']).code).toBe(0);
    // Diverging at once: no checkpoint to keep, and the message says so.
    const atOnce = rnnkit(['train', ...tiny, '--lr', '1000', '--epochs', '3', '--out', 'diverged-now']);
    expect(atOnce.code).toBe(1);
    expect(atOnce.stderr).toMatch(/diverged: .* at epoch 1 .*no checkpoint was written yet/);
    expect(metricsText('diverged-now')).not.toContain('null');
  }, 240_000); // several runs of the bin each; slow on a loaded machine

  it('--max-tokens beyond the text prints the real token count', () => {
    const r = rnnkit(['train', '--hidden', '8', '--max-tokens', '999999999', '--epochs', '1', '--out', 'all', '--backend', 'wasm']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/on The Time Machine \(all 170,580 characters, vocab 28\)/);
    expect(r.stdout).not.toContain('999999999');
  }, 240_000); // several runs of the bin each; slow on a loaded machine

  it('errors name CLI flags, not API fields; empty paths and huge lengths are refused', () => {
    const steps = rnnkit(['train', ...tiny, '--num-steps', '5000', '--out', 'steps']);
    expect(steps.code).toBe(1);
    expect(steps.stderr).toMatch(/--num-steps \(5000\) is longer than the corpus \(2000 tokens\): use a smaller --num-steps .*--max-tokens 0 keeps/);
    expect(steps.stderr).not.toMatch(/numSteps|maxTokens/);
    for (const args of [
      ['generate', '--checkpoint', ''],
      ['train', '--out', ''],
      ['train', '--resume', ' '],
      ['train', '--corpus', ''],
      ['generate', '--checkpoint', 'x', '--length', '1000000000'],
    ]) {
      const r = rnnkit(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr.trim().split('\n'), r.stderr).toHaveLength(1);
    }
    expect(rnnkit(['generate', '--checkpoint', 'x', '--length', '1000000000']).stderr).toMatch(/must be a whole number from 1 to 100,000/);
  }, 240_000); // several runs of the bin each; slow on a loaded machine
});
