// A new user's wrong and edge inputs to the commands on their own files (classify, timeseries
// --csv, translate --pairs, import, export), run in this process on the cpu backend with tiny
// files: each ends with one line naming the file or flag and the fix, the right exit code, and
// no half-written or silently wrong output.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { failureMessage, run } from '../src/program.js';

const dir = mkdtempSync(join(tmpdir(), 'rnnkit-faults-'));
let stderr: string[];
let stdout: string[];
afterAll(() => rmSync(dir, { recursive: true, force: true }));
beforeEach(() => {
  stderr = [];
  stdout = [];
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stderr.push(String(chunk));
    return true;
  });
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    stdout.push(String(chunk));
    return true;
  });
});
afterEach(() => {
  vi.restoreAllMocks();
});

const at = (name: string) => join(dir, name);
const interop = (name: string) => fileURLToPath(new URL(`../../../test/fixtures/interop/${name}`, import.meta.url));
async function rnnkit(argv: string[]): Promise<{ code: number; error: string; stdout: string }> {
  const code = await run([...argv, '--backend', 'cpu']);
  return { code, error: stderr.join('').trim().split('\n').at(-1) ?? '', stdout: stdout.join('') };
}

/** Two classes told apart by the last character. */
function labelledFile(name: string): string {
  const rows: string[] = [];
  for (let i = 0; i < 20; i++)
    rows.push(`is it ${['red', 'blue', 'big', 'late'][i % 4]}?\tquestion`, `it is ${['red', 'blue', 'big', 'late'][i % 4]}.\tstatement`);
  writeFileSync(at(name), `${rows.join('\n')}\n`);
  return at(name);
}

/** A weekly swing over 120 days. */
function seriesFile(name: string): string {
  const rows = Array.from({ length: 120 }, (_, i) => `${i},${(100 + 10 * Math.sin((i / 7) * 2 * Math.PI)).toFixed(3)}`);
  writeFileSync(at(name), `day,units\n${rows.join('\n')}\n`);
  return at(name);
}

describe('divergence: the one rule (not finite, or 5 times an untrained model) in classify and timeseries --csv', () => {
  it('classify: stops at the epoch, exit 1, no checkpoint, metrics.json records it', async () => {
    const r = await rnnkit(['classify', '--data', labelledFile('lr.tsv'), '--epochs', '3', '--lr', '1000', '--out', at('cls-lr')]);
    expect(r.code).toBe(1);
    expect(r.error).toMatch(
      /^rnnkit: Training diverged: the loss became [\d.e+]+ at epoch (\d), more than 5 times an untrained model's \(0\.693\); --lr 1000 is probably too high\. Stopped; no checkpoint was written/,
    );
    expect(existsSync(at('cls-lr/checkpoint'))).toBe(false);
    expect(JSON.parse(readFileSync(at('cls-lr/metrics.json'), 'utf8')).diverged.epoch).toBe(Number(/at epoch (\d)/.exec(r.error)?.[1]));
  });

  it('timeseries --csv: the MSE in the data units against the variance, exit 1, no checkpoint or forecast', async () => {
    const r = await rnnkit(['timeseries', '--csv', seriesFile('lr.csv'), '--epochs', '3', '--lr', '1000', '--out', at('ts-lr')]);
    expect(r.code).toBe(1);
    expect(r.error).toMatch(
      /^rnnkit: Training diverged: the training MSE became [\d.e+]+ at epoch \d, more than 5 times an untrained model's \([\d.]+\); --lr 1000/,
    );
    expect(existsSync(at('ts-lr/checkpoint'))).toBe(false);
    expect(existsSync(at('ts-lr/forecast.csv'))).toBe(false);
    expect(JSON.parse(readFileSync(at('ts-lr/metrics.json'), 'utf8')).diverged).toBeDefined();
  });
});

describe('one writer per --out', () => {
  let other: ChildProcess;
  beforeAll(() => {
    other = spawn('sleep', ['60'], { stdio: 'ignore' });
  });
  afterAll(() => {
    other.kill();
  });
  /** A run folder held by another live process (its lock file, as lockRunFolder writes it). */
  const heldFolder = (name: string) => {
    mkdirSync(at(name), { recursive: true });
    writeFileSync(
      at(`${name}/.rnnkit-lock`),
      JSON.stringify({ pid: other.pid, hostname: hostname(), command: 'rnnkit classify (the first)', started: new Date().toISOString() }),
    );
    return at(name);
  };

  it.each([
    ['classify', ['classify', '--data', labelledFile('held.tsv'), '--epochs', '1']],
    ['timeseries --csv', ['timeseries', '--csv', seriesFile('held.csv'), '--epochs', '1']],
    ['timeseries', ['timeseries', '--epochs', '1']],
    ['import', ['import', interop('encoder_decoder.safetensors'), '--vocab', interop('encoder_decoder.vocab.json')]],
  ])('%s: a second run in a folder another process writes is refused, naming it, and writes nothing', async (name, argv) => {
    const out = heldFolder(`held-${name.replace(/\W+/g, '-')}`);
    const r = await rnnkit([...argv, '--out', out]);
    expect(r.code).toBe(1);
    expect(r.error).toMatch(new RegExp(`^rnnkit: --out .*held-.* is in use by another process: rnnkit classify \\(the first\\) \\(pid ${other.pid},`));
    expect(existsSync(join(out, 'metrics.json'))).toBe(false);
    expect(existsSync(join(out, 'checkpoint'))).toBe(false);
  });
});

describe('rnnkit import reads only regular files', () => {
  it('refuses a FIFO and /dev/zero at once (as the model or the vocabulary), naming the file', async () => {
    execFileSync('mkfifo', [at('pipe.safetensors')]);
    const fifo = await rnnkit(['import', at('pipe.safetensors'), '--out', at('imp-fifo')]);
    expect(fifo.code).toBe(1);
    expect(fifo.error).toBe(`rnnkit: The model file ${at('pipe.safetensors')} is a FIFO (named pipe): rnnkit reads only regular files.`);
    const zero = await rnnkit(['import', '/dev/zero', '--out', at('imp-zero')]);
    expect(zero.error).toBe('rnnkit: The model file /dev/zero is a character device: rnnkit reads only regular files.');
    const vocab = await rnnkit(['import', interop('gru.safetensors'), '--vocab', at('pipe.safetensors'), '--out', at('imp-vocab')]);
    expect(vocab.error).toBe(`rnnkit: The vocabulary file ${at('pipe.safetensors')} is a FIFO (named pipe): rnnkit reads only regular files.`);
    expect(existsSync(at('imp-fifo/checkpoint'))).toBe(false);
  });
});

describe('rnnkit translate --pairs', () => {
  it('trains and saves pairs that start with punctuation or hold two spaces (no empty word reaches the vocabulary)', async () => {
    const rows = ['...\t!!!', '?\t.', 'hi  there\tsalut', 'go .\tva !', 'hi .\tsalut .', 'go now .\tvas-y .'];
    writeFileSync(at('punct.tsv'), `${[...rows, ...rows].join('\n')}\n`);
    const r = await rnnkit(['translate', '--pairs', at('punct.tsv'), '--epochs', '1', '--embed', '4', '--hidden', '4', '--out', at('tr-punct')]);
    expect(r.error).not.toMatch(/empty token/);
    expect(r.code).toBe(0);
    expect(existsSync(at('tr-punct/checkpoint/model.json'))).toBe(true);
  });
});

describe('rnnkit export', () => {
  beforeAll(async () => {
    for (const [file, out] of [
      ['gru', 'exp-lm'],
      ['encoder_decoder', 'exp-nmt'],
    ] as const) {
      expect(await run(['import', interop(`${file}.safetensors`), '--vocab', interop(`${file}.vocab.json`), '--out', at(out), '--backend', 'cpu'])).toBe(0);
    }
  });

  it("never replaces another model's vocab.json beside --out without --force", async () => {
    expect((await rnnkit(['export', at('exp-lm'), '--format', 'onnx', '--out', at('export/gru.onnx')])).code).toBe(0);
    // The same model again, in the other format: the same vocabulary, written again.
    expect((await rnnkit(['export', at('exp-lm'), '--format', 'safetensors', '--out', at('export/gru.safetensors')])).code).toBe(0);
    const lmVocab = readFileSync(at('export/vocab.json'), 'utf8');
    const other = await rnnkit(['export', at('exp-nmt'), '--format', 'onnx', '--out', at('export/nmt.onnx')]);
    expect(other.code).toBe(2);
    expect(other.error).toBe(
      `rnnkit: ${at('export/vocab.json')} holds another vocabulary (of a model exported there before?): export into another folder, or pass --force to replace it.`,
    );
    expect(readFileSync(at('export/vocab.json'), 'utf8')).toBe(lmVocab);
    expect(existsSync(at('export/nmt.onnx'))).toBe(false);
    expect((await rnnkit(['export', at('exp-nmt'), '--format', 'onnx', '--out', at('export/nmt.onnx'), '--force'])).code).toBe(0);
    expect(JSON.parse(readFileSync(at('export/vocab.json'), 'utf8'))).toHaveProperty('src');
  });

  it('refuses an --out that is a folder, or a file in the checkpoint folder (which it would damage)', async () => {
    const folder = await rnnkit(['export', at('exp-lm'), '--format', 'onnx', '--out', at('export')]);
    expect(folder.code).toBe(2);
    expect(folder.error).toMatch(/--out .*export is a folder: give the file to write, e\.g\. --out .*export\/model\.onnx/);
    const model = readFileSync(at('exp-lm/checkpoint/model.json'));
    const inside = await rnnkit(['export', at('exp-lm'), '--format', 'onnx', '--out', at('exp-lm/checkpoint/model.json')]);
    expect(inside.code).toBe(2);
    expect(inside.error).toMatch(/is in the checkpoint folder .*exp-lm\/checkpoint: write the export elsewhere/);
    expect(readFileSync(at('exp-lm/checkpoint/model.json'))).toEqual(model);
    expect(existsSync(at('exp-lm/checkpoint/vocab.json'))).toBe(false);
  });
});

describe('rnnkit import: vocabularies and state dicts that do not fit', () => {
  it('names the vocab.json of a token that is empty or not one character, before anything is written', async () => {
    const tokens = JSON.parse(readFileSync(interop('gru.vocab.json'), 'utf8')) as string[];
    writeFileSync(at('empty-token.json'), JSON.stringify([...tokens.slice(0, -1), '']));
    writeFileSync(at('word-token.json'), JSON.stringify([...tokens.slice(0, -1), 'ab']));
    const empty = await rnnkit(['import', interop('gru.safetensors'), '--vocab', at('empty-token.json'), '--out', at('imp-empty')]);
    expect(empty.code).toBe(1);
    expect(empty.error).toBe(`rnnkit: ${at('empty-token.json')}: holds an empty token at index ${tokens.length - 1}: every token must be a non-empty string.`);
    const word = await rnnkit(['import', interop('gru.safetensors'), '--vocab', at('word-token.json'), '--out', at('imp-word')]);
    expect(word.code).toBe(1);
    expect(word.error).toMatch(
      new RegExp(`^rnnkit: .*word-token\\.json: holds the token "ab" at index ${tokens.length - 1}: rnnkit import reads character language models`),
    );
    expect(stderr.join('')).not.toMatch(/The Time Machine gives another vocabulary/);
    expect(existsSync(at('imp-word/checkpoint'))).toBe(false);
  });
});

describe('rnnkit classify', () => {
  it('says when a class has too few texts to be validated', async () => {
    writeFileSync(at('rare.tsv'), `${readFileSync(labelledFile('common.tsv'), 'utf8')}wow!\texclamation\n`);
    const r = await rnnkit(['classify', '--data', at('rare.tsv'), '--epochs', '1', '--out', at('cls-rare')]);
    expect(r.code).toBe(0);
    expect(stderr.join('')).toContain(
      'note: "exclamation" has too few texts to hold any out: the validation accuracy does not measure it (add texts of that class, or raise --val-fraction).',
    );
  });
});

describe('--checkpoint reads the data file it was trained on, from any folder', () => {
  it('timeseries and translate: by its absolute path, not a file of the same name here; a changed file is noted', async () => {
    const cwd = process.cwd();
    mkdirSync(at('first'));
    mkdirSync(at('second'));
    try {
      process.chdir(at('first'));
      seriesFile('first/series.csv');
      writeFileSync('pairs.tsv', `${Array.from({ length: 12 }, (_, i) => `go ${i % 3} .\tva ${i % 3} !`).join('\n')}\n`);
      const ts = await rnnkit(['timeseries', '--csv', 'series.csv', '--epochs', '1', '--horizon', '3', '--out', 'ts']);
      expect(ts.code, ts.error).toBe(0);
      const tr = await rnnkit(['translate', '--pairs', 'pairs.tsv', '--epochs', '1', '--embed', '4', '--hidden', '4', '--out', 'tr']);
      expect(tr.code, tr.error).toBe(0);
      const trained = JSON.parse(readFileSync('ts/metrics.json', 'utf8')).forecast.gru as number[];
      // Another folder with other files of the same names.
      process.chdir(at('second'));
      writeFileSync('series.csv', 'units\n1\n2\n3\n4\n5\n6\n7\n8\n');
      writeFileSync('pairs.tsv', 'a\tb\nc\td\ne\tf\n');
      stderr.length = 0;
      const again = await rnnkit(['timeseries', '--checkpoint', at('first/ts'), '--horizon', '3', '--out', 'ts-again']);
      expect(again.code, again.error).toBe(0);
      // The recorded SHA-256 is that of the file as trained on: no note for the same bytes.
      expect(stderr.join('')).not.toMatch(/has changed/);
      const forecast = JSON.parse(readFileSync('ts-again/forecast.json', 'utf8')) as { csv: string; forecast: { gru: number[] } };
      expect(forecast.csv).toBe(at('first/series.csv'));
      expect(forecast.forecast.gru).toEqual(trained);
      const evaluated = await rnnkit(['translate', '--checkpoint', at('first/tr'), '--out', 'tr-again']);
      expect(evaluated.code, evaluated.error).toBe(0);
      expect(evaluated.stdout).toMatch(/on the 11 training pairs, [\d.]+ on 1 held-out pairs \(lines 12-12\)/);
      // The series grew since training: forecast from its new end, saying so.
      writeFileSync(at('first/series.csv'), `${readFileSync(at('first/series.csv'), 'utf8')}120,101\n`);
      stderr.length = 0;
      const grown = await rnnkit(['timeseries', '--checkpoint', at('first/ts'), '--horizon', '3', '--out', 'ts-grown']);
      expect(grown.code).toBe(0);
      expect(stderr.join('')).toMatch(
        /note: .*first\/series\.csv has changed since the model was trained \(SHA-256 \w{12}\.\.\. then, \w{12}\.\.\. now\): forecasting from its last 4 values/,
      );
    } finally {
      process.chdir(cwd);
    }
  });
});

describe('rnnkit timeseries --csv', () => {
  it('notes when the linear autoregression has fewer training windows than coefficients', async () => {
    writeFileSync(at('ten.csv'), `v\n${Array.from({ length: 10 }, (_, i) => i + 1).join('\n')}\n`);
    const r = await rnnkit(['timeseries', '--csv', at('ten.csv'), '--val-fraction', '0.9', '--epochs', '1', '--out', at('ts-ten')]);
    expect(r.code).toBe(0);
    expect(stderr.join('')).toContain(
      "note: 1 training window for the linear autoregression's 5 coefficients (--tau 4 and a bias): its least-squares fit is underdetermined",
    );
  });
});

describe('memory that runs out deep in the engine', () => {
  it('is one line saying what to change', () => {
    expect(failureMessage(new RangeError('WebAssembly.Memory.grow(): Maximum memory size exceeded'))).toBe(
      'out of memory (WebAssembly.Memory.grow(): Maximum memory size exceeded): the wasm backend holds at most 4 GiB; train with smaller sizes (--batch-size, --num-steps, --hidden, --embed) or on a native backend (--backend tensorflow).',
    );
    expect(failureMessage(new RangeError('Invalid typed array length: 99999999999'))).toMatch(/^out of memory \(Invalid typed array length: 99999999999\): /);
    expect(failureMessage(new Error('something else'))).toBe('something else');
  });
});
