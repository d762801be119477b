// Every task on the user's own files (the small ones in test/fixtures): a CSV series, labelled
// texts and sentence pairs; each trained model saved, loaded and predicting the same.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../dist/bin.js', import.meta.url));
const fixture = (name: string) => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
let dir: string;

function rnnkit(args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args, '--backend', 'wasm'], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
const lastEvent = (stdout: string) => JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
const errorLine = (stderr: string) => stderr.trim().split('\n').at(-1)!;

beforeAll(() => {
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run "pnpm build" before the CLI tests.`);
  dir = mkdtempSync(join(tmpdir(), 'rnnkit-own-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('rnnkit timeseries --csv', () => {
  const csv = fixture('visits.csv'); // date,visitors: 150 days, weekly season, trend, noise

  it('trains on a CSV column, prints GRU and linear AR validation MSE, and forecasts past the end to forecast.csv and a plot', () => {
    const r = rnnkit(['timeseries', '--csv', csv, '--tau', '7', '--epochs', '3', '--horizon', '10', '--out', 'ts']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(
      'column "visitors" (the last column of numbers; others: "date"; choose with --column): 150 values, 143 windows of tau 7: 114 train, 29 validate',
    );
    expect(r.stdout).toMatch(/^epoch 3, loss [\d.]+, validation MSE [\d.]+$/m);
    expect(r.stdout).toMatch(/^ {2}gru +[\d.]+ +[\d.]+ +[\d.]+$/m); // 1-, 4- and 16-step: 64 is longer than the 29 validation windows
    expect(r.stdout).toMatch(/^ {2}linear +[\d.]+ +[\d.]+ +[\d.]+$/m);
    expect(r.stdout).toMatch(/^ {2}last value +[\d.]+/m);
    const forecast = readFileSync(join(dir, 'ts', 'forecast.csv'), 'utf8')
      .trim()
      .split('\n');
    expect(forecast[0]).toBe('step,gru,linear');
    expect(forecast.map((l) => l.split(',')[0])).toEqual(['step', ...Array.from({ length: 10 }, (_, i) => String(151 + i))]);
    // The linear AR has learned the weekly swing: its forecasts stay in the data's range (150-320).
    for (const row of forecast.slice(1)) for (const v of row.split(',').slice(1).map(Number)) expect(v > 100 && v < 400, row).toBe(true);
    const svg = readFileSync(join(dir, 'ts', 'forecast.svg'), 'utf8');
    expect(svg).toMatch(/^<svg/);
    expect(svg).toContain('GRU forecast');
    const metrics = JSON.parse(readFileSync(join(dir, 'ts', 'metrics.json'), 'utf8'));
    expect(metrics.data).toMatchObject({ column: 'visitors', values: 150, train: 114, validation: 29 });
    expect(metrics.validationLosses).toHaveLength(3);
  });

  it('the saved GRU, loaded with --checkpoint, forecasts exactly the same values', () => {
    const r = rnnkit(['timeseries', '--checkpoint', 'ts', '--horizon', '10', '--out', 'ts-again', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const done = lastEvent(r.stdout) as { event: string; forecast: { gru: number[] } };
    expect(done.event).toBe('done');
    const trained = JSON.parse(readFileSync(join(dir, 'ts', 'metrics.json'), 'utf8')).forecast.gru as number[];
    expect(done.forecast.gru).toEqual(trained);
    const csvRows = readFileSync(join(dir, 'ts-again', 'forecast.csv'), 'utf8')
      .trim()
      .split('\n');
    expect(csvRows[0]).toBe('step,gru');
    expect(csvRows.slice(1).map((l) => l.split(',')[1])).toEqual(
      readFileSync(join(dir, 'ts', 'forecast.csv'), 'utf8')
        .trim()
        .split('\n')
        .slice(1)
        .map((l) => l.split(',')[1]),
    );
  });

  it('names the column, the line and the flag range when something is wrong', () => {
    const noColumn = rnnkit(['timeseries', '--csv', csv, '--column', 'sales', '--out', 'x']);
    expect(noColumn.code).toBe(1);
    expect(errorLine(noColumn.stderr)).toMatch(/visits\.csv has no column "sales": its columns are "date", "visitors"/);
    writeFileSync(join(dir, 'gap.csv'), 'day,value\n1,3\n2,\n3,5\n');
    const gap = rnnkit(['timeseries', '--csv', 'gap.csv', '--column', 'value', '--tau', '1', '--out', 'x']);
    expect(gap.code).toBe(1);
    expect(errorLine(gap.stderr)).toBe('rnnkit: gap.csv, line 3, column "value": "" is not a number; fill in or remove that row.');
    const range = rnnkit(['timeseries', '--csv', csv, '--horizon', '0']);
    expect(range.code).toBe(2);
    expect(range.stderr).toMatch(/--horizon.*must be a whole number from 1 to 100[,_]000/); // the range, as the flags helper writes it
    const alone = rnnkit(['timeseries', '--horizon', '5']);
    expect(alone.code).toBe(2);
    expect(errorLine(alone.stderr)).toBe('rnnkit: --horizon only work with --csv FILE.');
  }, 240_000); // several runs of the bin; slow on a loaded machine
});

describe('rnnkit classify', () => {
  const data = fixture('sentences.tsv'); // 72 sentences: question / exclamation / statement, by their last character
  const texts = ['is the train late?', 'what a garden!', 'The cat sleeps.'];

  it('trains a many-to-one classifier, prints validation accuracy and the confusion matrix, and classifies --text', () => {
    const r = rnnkit(['classify', '--data', data, '--epochs', '6', '--out', 'cls', ...texts.flatMap((t) => ['--text', t])]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('72 texts, 3 classes (exclamation 24, question 24, statement 24); char tokens');
    expect(r.stdout).toContain('57 train, 15 validate');
    expect(r.stdout).toMatch(/^epoch 6\/6 +loss [\d.]+ +train accuracy [\d.]+ +validation accuracy [\d.]+/m);
    const accuracy = Number(/validation \(15 texts; rows: actual class, columns: predicted\): accuracy ([\d.]+) \((\d+)\/15\)/.exec(r.stdout)?.[1]);
    expect(accuracy).toBeGreaterThan(0.8); // the last real character decides; padding must not hide it
    expect(r.stdout).toMatch(/^ {2}actual \\ predicted +exclamation +question +statement$/m);
    const rows = r.stdout.split('\n').filter((l) => /^ {2}(exclamation|question|statement) +\d+ +\d+ +\d+$/.test(l));
    expect(rows).toHaveLength(3);
    expect(rows.flatMap((l) => l.trim().split(/ +/).slice(1).map(Number)).reduce((a, b) => a + b, 0)).toBe(15);
    const metrics = JSON.parse(readFileSync(join(dir, 'cls', 'metrics.json'), 'utf8'));
    expect(metrics.accuracy).toBe(accuracy);
    expect(metrics.history).toHaveLength(6);
    expect(readFileSync(join(dir, 'cls', 'accuracy.svg'), 'utf8')).toMatch(/^<svg/);
  });

  it('the saved classifier, loaded with --checkpoint, gives the same labels and probabilities', () => {
    const trained = JSON.parse(readFileSync(join(dir, 'cls', 'metrics.json'), 'utf8')).predictions as { label: string; probability: number }[];
    expect(trained.map((p) => p.label)).toEqual(['question', 'exclamation', 'statement']);
    const r = rnnkit(['classify', '--checkpoint', 'cls', '--json', ...texts.flatMap((t) => ['--text', t])]);
    expect(r.code, r.stderr).toBe(0);
    const done = lastEvent(r.stdout) as { predictions: { label: string; probability: number }[]; trained: boolean };
    expect(done.trained).toBe(false);
    expect(done.predictions.map((p) => [p.label, p.probability])).toEqual(trained.map((p) => [p.label, p.probability]));
    const evaluated = rnnkit(['classify', '--checkpoint', 'cls', '--data', data]);
    expect(evaluated.code, evaluated.stderr).toBe(0);
    expect(evaluated.stdout).toMatch(/sentences\.tsv \(72 texts; rows: actual class, columns: predicted\): accuracy [\d.]+ \(\d+\/72\)/);
  }, 240_000);

  it('names a malformed line, refuses one label and a --checkpoint with nothing to classify', () => {
    writeFileSync(join(dir, 'bad.tsv'), 'fine\tyes\nno label here\n');
    const bad = rnnkit(['classify', '--data', 'bad.tsv']);
    expect(bad.code).toBe(1);
    expect(errorLine(bad.stderr)).toBe('rnnkit: bad.tsv, line 2: 1 tab-separated field, expected 2: text<TAB>label.');
    writeFileSync(join(dir, 'one.tsv'), 'a\tx\nb\tx\n');
    expect(errorLine(rnnkit(['classify', '--data', 'one.tsv']).stderr)).toMatch(/has one label only \("x"\): a classifier needs at least two/);
    const nothing = rnnkit(['classify', '--checkpoint', 'cls']);
    expect(nothing.code).toBe(2);
    expect(rnnkit(['classify', '--data', data, '--val-fraction', '1']).stderr).toMatch(/--val-fraction.*must be a number (between 0 and 1|> 0 and < 1)/);
    const wrongKind = rnnkit(['classify', '--checkpoint', 'ts', '--text', 'x']);
    expect(wrongKind.code).toBe(1);
    expect(errorLine(wrongKind.stderr)).toMatch(/model\.json holds a time-series regressor, not a sequence classifier/);
  }, 240_000);
});

describe('rnnkit translate --pairs', () => {
  const pairs = fixture('numbers-en-es.tsv'); // 99 English-Spanish pairs: "I have forty two books." / "Tengo cuarenta y dos libros."

  it("runs d2l's pipeline on your own pairs, holding out the last tenth, and the checkpoint translates the same", () => {
    const r = rnnkit(['translate', '--pairs', pairs, '--epochs', '3', '--out', 'tr', '--sentence', 'I have two books.']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/on 90 pairs of .*numbers-en-es\.tsv \(vocab \d+ \/ \d+\)/);
    expect(r.stdout).toMatch(/^examples \(greedy\):$/m);
    expect(r.stdout).toMatch(/^i have [a-z ]+ books? \. => .*, bleu [01]\.\d{3}$/m);
    expect(r.stdout).toMatch(/mean BLEU: [\d.]+ on the 90 training pairs, [\d.]+ on 9 held-out pairs \(lines 91-99\)/);
    const trained = JSON.parse(readFileSync(join(dir, 'tr', 'metrics.json'), 'utf8'));
    expect(trained.examples[0].reference).toMatch(/^tengo .* libros? \.$/);
    const again = rnnkit(['translate', '--checkpoint', 'tr', '--out', 'tr', '--json', '--sentence', 'I have two books.']);
    expect(again.code, again.stderr).toBe(0);
    const done = lastEvent(again.stdout) as { examples: unknown[]; sentences: unknown[]; heldOutPairs: number };
    expect(done.examples).toEqual(trained.examples);
    expect(done.sentences).toEqual(trained.sentences);
    expect(done.heldOutPairs).toBe(9);
  }, 240_000);

  it('names a malformed line and refuses --pairs with --data', () => {
    writeFileSync(join(dir, 'pairs-bad.tsv'), 'one\tuno\ntwo\tdos\tzwei\n');
    const bad = rnnkit(['translate', '--pairs', 'pairs-bad.tsv']);
    expect(bad.code).toBe(1);
    expect(errorLine(bad.stderr)).toMatch(/^rnnkit: pairs-bad\.tsv, line 2: 3 tab-separated fields, expected 2: source<TAB>target \(a field cannot hold a tab/);
    const both = rnnkit(['translate', '--pairs', pairs, '--data', 'fra.txt']);
    expect(both.code).toBe(2);
    expect(errorLine(both.stderr)).toMatch(/--pairs replaces the English-French data/);
  }, 240_000);
});
