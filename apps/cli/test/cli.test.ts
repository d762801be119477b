// End-to-end: the built `rnnkit` bin as a child process, as a user runs it.
import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../dist/bin.js', import.meta.url));
let dir: string;

function rnnkit(args: string[], env: Record<string, string | undefined> = {}) {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, ...env }, timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface Metrics {
  epochsDone: number;
  interrupted: boolean;
  perplexity: number;
  history: { epoch: number; perplexity: number }[];
  config: { model: string; hidden: number };
  backend: string;
  versions: { rnnkit: string; tfjs: string };
}
const metricsOf = (out: string): Metrics => JSON.parse(readFileSync(join(dir, out, 'metrics.json'), 'utf8')) as Metrics;
const tiny = ['--hidden', '32', '--batch-size', '8', '--num-steps', '10', '--max-tokens', '2000', '--backend', 'wasm'];

beforeAll(() => {
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run "pnpm build" before the CLI tests.`);
  dir = mkdtempSync(join(tmpdir(), 'rnnkit-cli-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('rnnkit train / generate', () => {
  it('trains, writing metrics.json, a perplexity plot and a checkpoint', () => {
    const r = rnnkit(['train', ...tiny, '--epochs', '3', '--out', 'run', '--print-every', '1']);
    expect(r.stderr).toMatch(/^backend: wasm \(rnnkit kernels: (relaxed|plain) SIMD, \d+ threads?\)\n$/);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(/backend/);
    expect(r.stdout).toMatch(/epoch 3\/3 +perplexity [\d.]+ +\d+ tokens\/s/);
    expect(r.stdout).toMatch(/^time traveller/m);
    expect(r.stdout).toMatch(/^traveller/m);
    const m = metricsOf('run');
    expect(m.history.map((h) => h.epoch)).toEqual([1, 2, 3]);
    expect(m.perplexity).toBe(m.history[2]!.perplexity);
    expect(m.backend).toBe('wasm');
    expect(m.versions.tfjs).toBe('4.22.0');
    const svg = readFileSync(join(dir, 'run', 'perplexity.svg'), 'utf8');
    expect(svg).toMatch(/^<svg/);
    expect(svg).toContain('perplexity');
    const model = JSON.parse(readFileSync(join(dir, 'run', 'checkpoint', 'model.json'), 'utf8'));
    expect(model.weightsManifest[0].paths).toEqual(['weights.bin']);
    const bytes = (model.weightsManifest[0].weights as { shape: number[] }[]).reduce((n, w) => n + 4 * w.shape.reduce((a, b) => a * b, 1), 0);
    expect(readFileSync(join(dir, 'run', 'checkpoint', 'weights.bin')).byteLength).toBe(bytes);
    expect(model.userDefinedMetadata.rnnkit.vocab).toBeDefined();
  });

  it('generates from that checkpoint, greedy and sampled, with the prefix preprocessed as the training text', () => {
    const greedy = rnnkit(['generate', '--checkpoint', 'run', '--prefix', 'time traveller', '--length', '20', '--backend', 'wasm']);
    expect(greedy.code).toBe(0);
    expect(greedy.stdout.trimEnd()).toMatch(/^time traveller.{20}$/);
    expect(rnnkit(['generate', '--checkpoint', 'run', '--length', '20', '--backend', 'wasm']).stdout).toBe(greedy.stdout);
    const a = rnnkit(['generate', '--checkpoint', 'run', '--length', '40', '--temperature', '1', '--seed', '3', '--json']);
    const b = rnnkit(['generate', '--checkpoint', 'run', '--length', '40', '--temperature', '1', '--seed', '3', '--json']);
    expect(JSON.parse(a.stdout.trim().split('\n').at(-1)!).mode).toBe('sample');
    expect(a.stdout).toBe(b.stdout);
    // "Time!" is d2l-preprocessed to "time " as the training text was (not "T" and "!" as <unk>).
    const odd = rnnkit(['generate', '--checkpoint', 'run', '--prefix', 'Time!', '--length', '5', '--backend', 'wasm']);
    expect(odd.code).toBe(0);
    expect(odd.stderr).toMatch(/the prefix is preprocessed as the training text was \(--preprocess d2l\): "time "/);
    expect(odd.stderr).not.toMatch(/not in the vocabulary/);
    expect(odd.stdout).toMatch(/^time .{5}\n$/);
  });

  it('--workers 1 trains data-parallel on two threads to the same perplexities, up to rounding', () => {
    const r = rnnkit(['train', ...tiny, '--epochs', '3', '--out', 'threads', '--workers', '1']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('split over 2 threads');
    const [one, two] = [metricsOf('run'), metricsOf('threads')];
    two.history.forEach((h, i) => {
      expect(h.perplexity).toBeCloseTo(one.history[i]!.perplexity, 3);
    });
  });

  it('a resume with another --workers says the weights will differ by rounding; the same count says nothing', () => {
    const more = rnnkit(['train', ...tiny, '--epochs', '4', '--resume', 'threads', '--out', 'threads']);
    expect(more.code, more.stderr).toBe(0);
    expect(more.stderr).toContain('the run so far trained with --workers 1, this part with --workers 0');
    expect(more.stderr).toContain('give --workers 1 to continue it exactly');
    const same = rnnkit(['train', ...tiny, '--epochs', '5', '--resume', 'threads', '--out', 'threads', '--workers', '0']);
    expect(same.code, same.stderr).toBe(0);
    expect(same.stderr).not.toContain('--workers');
  });

  it('--json prints one JSON object per line', () => {
    const r = rnnkit(['train', ...tiny, '--epochs', '2', '--out', 'json-run', '--json']);
    expect(r.code).toBe(0);
    const events = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { event: string });
    expect(events.map((e) => e.event)).toEqual(['start', 'path', 'epoch', 'epoch', 'sample', 'done']);
  });

  it('--resume after a run killed mid-way ends with the same metrics as an uninterrupted run', async () => {
    const args = [...tiny, '--epochs', '8', '--checkpoint-every', '2', '--json'];
    const whole = rnnkit(['train', ...args, '--out', 'whole']);
    expect(whole.code).toBe(0);
    // Kill (SIGKILL: no chance to save) once epoch 5 is reported; the epoch-4 checkpoint survives.
    await new Promise<void>((resolve, reject) => {
      const child = spawn(process.execPath, [bin, 'train', ...args, '--out', 'killed'], { cwd: dir });
      let buffer = '';
      child.stdout.on('data', (chunk: Buffer) => {
        buffer += chunk.toString();
        if (/"epoch":5,/.test(buffer)) child.kill('SIGKILL');
      });
      child.on('exit', (code, signal) => (signal === 'SIGKILL' ? resolve() : reject(new Error(`exited ${code} before it was killed`))));
    });
    expect(existsSync(join(dir, 'killed', 'metrics.json'))).toBe(false);
    const resumed = rnnkit(['train', ...args, '--resume', 'killed', '--out', 'killed']);
    expect(resumed.code).toBe(0);
    const [w, k] = [metricsOf('whole'), metricsOf('killed')];
    expect(k.history.map((h) => h.epoch)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    expect(k.history.map((h) => h.perplexity)).toEqual(w.history.map((h) => h.perplexity));
    expect(k.perplexity).toBe(w.perplexity);
  });

  it('Ctrl-C finishes the epoch, saves a checkpoint and exits 130; --resume completes the run identically', async () => {
    const args = [...tiny, '--epochs', '8', '--checkpoint-every', '100', '--json'];
    const code = await new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, [bin, 'train', ...args, '--out', 'sigint'], { cwd: dir });
      let sent = false;
      child.stdout.on('data', (chunk: Buffer) => {
        if (!sent && /"epoch":3,/.test(chunk.toString())) {
          sent = true;
          child.kill('SIGINT');
        }
      });
      child.on('exit', (c) => resolve(c));
    });
    expect(code).toBe(130); // Ctrl-C's exit code after saving, not 0
    const partial = metricsOf('sigint');
    expect(partial.interrupted).toBe(true);
    expect(partial.epochsDone).toBeLessThan(8);
    expect(rnnkit(['train', ...args, '--resume', 'sigint', '--out', 'sigint']).code).toBe(0);
    expect(metricsOf('sigint').history.map((h) => h.perplexity)).toEqual(metricsOf('whole').history.map((h) => h.perplexity));
  });
});

describe('rnnkit errors', () => {
  const oneLine = (s: string) => s.trim().split('\n').length === 1;

  it('--help shows every command, and each command has help with examples', () => {
    const top = rnnkit(['--help']);
    expect(top.code).toBe(0);
    for (const c of ['train', 'generate', 'toy', 'seq2seq', 'timeseries', 'classify', 'translate', 'bench']) {
      expect(top.stdout).toContain(c);
      const help = rnnkit([c, '--help']);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain('Examples:');
    }
  }, 180_000); // a run of the bin per command; slow on a loaded machine

  it('an unknown option or a bad value is a one-line error with exit code 2', () => {
    for (const args of [['train', '--bogus'], ['train', '--epochs', 'many'], ['train', '--lr', '-1'], ['train', '--model', 'tcn'], ['frobnicate']]) {
      const r = rnnkit(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(oneLine(r.stderr), r.stderr).toBe(true);
    }
  });

  it('an unknown backend is exit code 2; a backend that is not installed says what to install (exit 1)', () => {
    const unknown = rnnkit(['train', '--backend', 'webgpu']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/webgpu.*invalid.*auto, tensorflow-gpu, tensorflow, wasm, cpu/);
    for (const [backend, pkg] of [
      ['tensorflow', '@tensorflow/tfjs-node'],
      ['tensorflow-gpu', '@tensorflow/tfjs-node-gpu'],
    ]) {
      const r = rnnkit(['train', ...tiny.slice(0, -2), '--epochs', '1', '--backend', backend!, '--out', 'nope']);
      expect(r.code).toBe(1);
      expect(oneLine(r.stderr), r.stderr).toBe(true);
      expect(r.stderr).toContain(`npm install ${pkg}`);
    }
  });

  it('a missing corpus file is a clear error (exit 1)', () => {
    const r = rnnkit(['train', ...tiny, '--corpus', 'no-such-book.txt', '--out', 'nope']);
    expect(r.code).toBe(1);
    expect(oneLine(r.stderr), r.stderr).toBe(true);
    expect(r.stderr).toContain('no-such-book.txt');
  });

  it('with no copy of The Time Machine, no cache and no network, it trains on the copy shipped with @rnnkit/data', () => {
    const r = rnnkit(['train', ...tiny, '--epochs', '1', '--out', 'shipped'], { RNNKIT_TIMEMACHINE: '', XDG_CACHE_HOME: join(dir, 'empty-cache'), HOME: dir });
    expect(r.code, r.stderr).toBe(0);
    expect(existsSync(join(dir, 'shipped', 'metrics.json'))).toBe(true);
    expect(existsSync(join(dir, 'empty-cache'))).toBe(false); // nothing downloaded, nothing cached
  }, 120_000);

  it('a missing or corrupt checkpoint is a clear error (exit 1)', () => {
    const missing = rnnkit(['generate', '--checkpoint', 'nowhere']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/No checkpoint at nowhere/);
    expect(rnnkit(['train', ...tiny, '--epochs', '1', '--out', 'corrupt']).code).toBe(0);
    truncateSync(join(dir, 'corrupt', 'checkpoint', 'weights.bin'), 100);
    const truncated = rnnkit(['generate', '--checkpoint', 'corrupt']);
    expect(truncated.code).toBe(1);
    expect(truncated.stderr).toMatch(/^rnnkit: Corrupt checkpoint: .*weights.bin holds 100 bytes/);
    writeFileSync(join(dir, 'corrupt', 'checkpoint', 'model.json'), '{"format": "rnnkit-chec');
    const garbled = rnnkit(['train', '--resume', 'corrupt']);
    expect(garbled.code).toBe(1);
    expect(garbled.stderr).toMatch(/Corrupt checkpoint: .*model.json is not valid JSON/);
  });
});

describe('rnnkit toy / timeseries / seq2seq / bench', () => {
  it("toy prints the hello -> ohlol toy's lines and ends with the exact guess ohlol", () => {
    const r = rnnkit(['toy', '--backend', 'wasm']);
    expect(r.code).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .filter((l) => /loss/.test(l));
    expect(lines).toHaveLength(15);
    expect(lines[0]).toMatch(/^0 loss: \d\.\d\d guess: [ehlo]{5}$/);
    expect(lines[14]).toMatch(/^14 loss: \d\.\d\d guess: ohlol$/);
  });

  it('timeseries prints the three predictors and writes the forecast plot', () => {
    const r = rnnkit(['timeseries', '--out', 'ts', '--backend', 'wasm']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/gru +[\d.]+/);
    expect(r.stdout).toMatch(/linear +[\d.]+/);
    expect(r.stdout).toMatch(/last value +[\d.]+/);
    expect(readFileSync(join(dir, 'ts', 'forecast.svg'), 'utf8')).toMatch(/^<svg/);
  });

  it('seq2seq runs a small reverse task and prints BLEU and examples', () => {
    const r = rnnkit([
      'seq2seq',
      '--train-size',
      '300',
      '--test-size',
      '20',
      '--epochs',
      '1',
      '--max-length',
      '4',
      '--hidden',
      '16',
      '--examples',
      '2',
      '--backend',
      'wasm',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/epoch 1, loss [\d.]+, held-out exact match [\d.]+%, BLEU [\d.]+/);
    expect(r.stdout).toMatch(/^[a-z]{3,4} => [a-z]*, bleu [\d.]+/m);
  });

  it('bench prints a table row per case', () => {
    const r = rnnkit(['bench', '--backends', 'wasm', '--only', 'fused-rnn-256', '--steps', '2', '--warmup', '1', '--threads', '1']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^wasm +fused-rnn-256 +1 +0 +sequential +[\d.]+ +\d+/m);
  });

  it('bench --json rows say the backend, threads and SIMD build; the bin turns relaxed SIMD on in Node 20 without a flag', () => {
    const r = rnnkit(['bench', '--backends', 'wasm', '--only', 'fused-rnn-256', '--steps', '1', '--warmup', '0', '--threads', '2', '--json']);
    expect(r.code).toBe(0);
    const events = r.stdout
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events[0]).toMatchObject({ event: 'start', kernels: { simd: 'relaxed', threads: 2 } });
    const rows = events.filter((o) => 'tokensPerSecond' in o);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ backend: 'wasm', case: 'fused-rnn-256', threads: 2, workers: 0, simd: 'relaxed', iteration: 'sequential' });
    expect(rows[0]!.tokensPerSecond).toBeGreaterThan(0);
  });
});

describe('rnnkit translate', () => {
  const quick = ['--epochs', '3', '--num-examples', '100', '--held-out', '20', '--backend', 'wasm'];

  it("trains, writes metrics.json, loss.svg and a checkpoint, prints d2l's four examples with BLEU and the user's sentence with <unk>", () => {
    const r = rnnkit(['translate', ...quick, '--out', 'tr', '--sentence', 'Go zorglub!']);
    expect(r.stderr).toMatch(/^backend: wasm \(rnnkit kernels: (relaxed|plain) SIMD, \d+ threads?\)\n$/); // on stderr, as every command's
    expect(r.code).toBe(0);
    for (const en of ['go .', 'i lost .', "he's calm .", "i'm home ."])
      expect(r.stdout).toMatch(new RegExp(`^${en.replace('.', '\\.')} => .*, bleu [01]\\.\\d{3}$`, 'm'));
    expect(r.stdout).toMatch(/mean BLEU: [\d.]+ on the 101 training pairs, [\d.]+ on 20 held-out pairs \(lines 102-121\)/);
    expect(r.stdout).toMatch(/^Go zorglub! => /m);
    // Both loss scales, labelled: per token, and d2l's train_seq2seq figure (divided by num_steps 10).
    const [, perToken, d2l] =
      r.stdout.match(/^loss ([\d.]+) per target token; ([\d.]+) as d2l's train_seq2seq prints it \(the same divided by num_steps 10\)$/m) ?? [];
    expect(perToken, r.stdout).toBeDefined();
    expect(Number(d2l)).toBeCloseTo(Number(perToken) / 10, 3);
    expect(r.stdout).toContain('read as <unk>: "zorglub"');
    const m = JSON.parse(readFileSync(join(dir, 'tr', 'metrics.json'), 'utf8'));
    expect(m.history.map((h: { epoch: number }) => h.epoch)).toEqual([1, 2, 3]);
    expect(m.examples).toHaveLength(4);
    expect(m.config).toMatchObject({ embedSize: 32, numHiddens: 32, numLayers: 2, dropout: 0.1, init: 'xavier' });
    expect(readFileSync(join(dir, 'tr', 'loss.svg'), 'utf8')).toMatch(/^<svg/);
    expect(JSON.parse(readFileSync(join(dir, 'tr', 'checkpoint', 'model.json'), 'utf8')).userDefinedMetadata.rnnkit.kind).toBe('translation');
  });

  it('translates with the checkpoint, greedy as beam 1, with start/done JSON events', () => {
    const greedy = rnnkit(['translate', '--checkpoint', 'tr', '--out', 'tr', '--json', '--held-out', '20', '--sentence', 'Go!']);
    expect(greedy.code, greedy.stderr).toBe(0);
    const events = greedy.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(events.map((e) => e.event)).toEqual(['start', 'done']);
    const done = events[1];
    expect(done.trained).toBe(false);
    const trained = JSON.parse(readFileSync(join(dir, 'tr', 'metrics.json'), 'utf8'));
    expect(done.examples).toEqual(trained.examples); // the checkpoint holds the trained weights and vocabularies
    expect(done.sentences[0].unknown).toEqual([]);
    const beam = JSON.parse(
      rnnkit(['translate', '--checkpoint', 'tr', '--out', 'tr', '--json', '--held-out', '20', '--beam', '3']).stdout.trim().split('\n').at(-1)!,
    );
    expect(beam.beam).toBe(3);
    expect(readFileSync(join(dir, 'tr', 'eval-beam3.json'), 'utf8')).toContain('"beam": 3');
    // Without --out, the evaluation goes beside the checkpoint it evaluated, not into ./runs/translate.
    const beside = rnnkit(['translate', '--checkpoint', 'tr/checkpoint', '--held-out', '5', '--beam', '2'], { INIT_CWD: undefined });
    expect(beside.code, beside.stderr).toBe(0);
    expect(readFileSync(join(dir, 'tr', 'eval-beam2.json'), 'utf8')).toContain('"beam": 2');
    expect(beside.stdout).toContain('file: tr/eval-beam2.json');
    expect(existsSync(join(dir, 'runs', 'translate'))).toBe(false);
  }, 240_000);

  it('refuses a language-model checkpoint and a missing data file in one line', () => {
    const model = JSON.parse(readFileSync(join(dir, 'tr', 'checkpoint', 'model.json'), 'utf8'));
    model.userDefinedMetadata.rnnkit.kind = 'language-model';
    mkdirSync(join(dir, 'lm-ckpt'));
    writeFileSync(join(dir, 'lm-ckpt', 'model.json'), JSON.stringify(model));
    copyFileSync(join(dir, 'tr', 'checkpoint', 'weights.bin'), join(dir, 'lm-ckpt', 'weights.bin'));
    const wrong = rnnkit(['translate', '--checkpoint', 'lm-ckpt', '--backend', 'wasm']);
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(
      /^backend: wasm \(rnnkit kernels: (relaxed|plain) SIMD, \d+ threads?\)\nrnnkit: .* holds a language model, not a translation model[^\n]*\n$/,
    );
    const missing = rnnkit(['translate', '--data', 'nope.txt', '--backend', 'wasm']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(
      /^backend: wasm \(rnnkit kernels: (relaxed|plain) SIMD, \d+ threads?\)\nrnnkit: The translation file nope\.txt does not exist\. .*--data FILE[^\n]*\n$/,
    );
  }, 180_000);
});
