// `--json` is a contract: every stdout line of every command parses, has an
// `event`, starts with `start` (backend, versions) and ends with `done` (or `error`); each event
// has the fields the README documents. The README's table is checked against this list too.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../dist/bin.js', import.meta.url));
const readme = readFileSync(fileURLToPath(new URL('../README.md', import.meta.url)), 'utf8');
let dir: string;

function rnnkit(args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: dir, encoding: 'utf8', timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The documented fields of each command's events (README "JSON output"). */
const EVENTS: Record<string, Record<string, string[]>> = {
  train: {
    start: ['command', 'backend', 'versions', 'kernels'],
    epoch: ['epoch', 'epochs', 'perplexity', 'tokensPerSecond', 'seconds'],
    sample: ['epoch', 'text'],
    path: ['ops'],
    done: ['backend', 'perplexity', 'tokensPerSecond', 'seconds', 'epochsDone', 'interrupted', 'continuations', 'files'],
  },
  generate: { start: ['command', 'backend', 'versions', 'kernels'], done: ['text', 'unknownTokens', 'mode'] },
  toy: { start: ['command', 'backend', 'versions', 'kernels'], epoch: ['seed', 'epoch', 'loss', 'guess'], done: ['seeds', 'solved', 'firstEpoch', 'perSeed'] },
  seq2seq: {
    start: ['command', 'backend', 'versions', 'kernels'],
    epoch: ['epoch', 'loss', 'exactMatch', 'bleu', 'seconds'],
    done: ['exactMatch', 'bleu', 'examples'],
  },
  timeseries: { start: ['command', 'backend', 'versions', 'kernels'], epoch: ['epoch', 'loss'], done: ['mse', 'files'] },
  classify: {
    start: ['command', 'backend', 'versions', 'kernels'],
    epoch: ['epoch', 'epochs', 'loss', 'accuracy', 'validationLoss', 'validationAccuracy', 'seconds'],
    done: ['backend', 'trained', 'classes', 'accuracy', 'confusion', 'evaluatedRows', 'predictions', 'files'],
  },
  translate: {
    start: ['command', 'backend', 'versions', 'kernels'],
    path: ['ops'],
    epoch: ['epoch', 'epochs', 'loss', 'd2lLoss', 'tokensPerSecond', 'seconds'],
    done: [
      'backend',
      'trained',
      'epochs',
      'loss',
      'd2lLoss',
      'tokensPerSecond',
      'trainSeconds',
      'beam',
      'trainBleu',
      'heldOutBleu',
      'heldOutPairs',
      'examples',
      'sentences',
      'files',
    ],
  },
  bench: {
    start: ['command', 'backend', 'versions', 'kernels', 'backends', 'cases', 'steps', 'warmup'],
    row: ['backend', 'case', 'threads', 'workers', 'simd', 'iteration', 'msPerStep', 'tokensPerSecond', 'peakTensorMB', 'leakedTensors', 'rssMB', 'steps'],
    done: ['rows'],
  },
};

type Event = Record<string, unknown> & { event: string };
function parseLines(stdout: string): Event[] {
  const lines = stdout.split('\n').filter((l) => l !== '');
  expect(lines.length).toBeGreaterThan(1);
  return lines.map((l) => {
    const e = JSON.parse(l) as Event;
    expect(typeof e.event, l).toBe('string');
    return e;
  }, 240_000); // several runs of the bin each; slow on a loaded machine
}

function checkContract(command: string, stdout: string): Event[] {
  const events = parseLines(stdout);
  const spec = EVENTS[command]!;
  expect(events[0]!.event).toBe('start');
  expect(events.at(-1)!.event).toBe('done');
  for (const e of events) {
    const fields = spec[e.event];
    expect(fields, `${command}: undocumented event ${e.event}`).toBeDefined();
    for (const f of fields!) expect(e, `${command} ${e.event}.${f}`).toHaveProperty(f);
  }
  const start = events[0]!;
  expect(start.command).toBe(command);
  expect(start.versions).toEqual({ rnnkit: expect.any(String), tfjs: '4.22.0', node: process.version });
  if (command !== 'bench') expect(start.backend).toBe('wasm');
  return events;
}

beforeAll(() => {
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run "pnpm build" before the CLI tests.`);
  dir = mkdtempSync(join(tmpdir(), 'rnnkit-json-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('--json: every line is an event with its documented fields', () => {
  it('train, then generate from its checkpoint', () => {
    const t = rnnkit([
      'train',
      '--hidden',
      '16',
      '--batch-size',
      '8',
      '--num-steps',
      '10',
      '--max-tokens',
      '2000',
      '--epochs',
      '2',
      '--print-every',
      '1',
      '--out',
      'run',
      '--backend',
      'wasm',
      '--json',
    ]);
    expect(t.code, t.stderr).toBe(0);
    const events = checkContract('train', t.stdout);
    expect(events.map((e) => e.event)).toEqual(['start', 'path', 'epoch', 'sample', 'epoch', 'sample', 'done']);
    // The step's path: the fused recurrence, the fused loss and the one-pass update, all on the kernels.
    expect(events[1]!.ops).toEqual([
      { op: 'fusedRecurrence', kernels: true },
      { op: 'denseCrossEntropy', kernels: true },
      { op: 'clippedUpdate', kernels: true },
    ]);
    const g = rnnkit(['generate', '--checkpoint', 'run', '--length', '5', '--backend', 'wasm', '--json']);
    expect(g.code, g.stderr).toBe(0);
    expect(checkContract('generate', g.stdout).map((e) => e.event)).toEqual(['start', 'done']);
  }, 240_000); // several runs of the bin each; slow on a loaded machine

  it('toy, seq2seq, timeseries and translate', () => {
    for (const [command, args] of [
      ['toy', ['--epochs', '2']],
      ['seq2seq', ['--train-size', '100', '--test-size', '5', '--epochs', '1', '--max-length', '4', '--hidden', '8', '--layers', '1', '--examples', '1']],
      ['timeseries', ['--epochs', '1', '--out', 'ts']],
      ['translate', ['--epochs', '1', '--held-out', '5', '--sentence', 'Go!', '--out', 'tr']],
    ] as const) {
      const r = rnnkit([command, ...args, '--backend', 'wasm', '--json']);
      expect(r.code, r.stderr).toBe(0);
      const events = checkContract(command, r.stdout);
      if (command === 'translate') {
        // The loss per token, and d2l's train_seq2seq figure: the same divided by num_steps (10).
        const epoch = events.find((e) => e.event === 'epoch')!;
        expect(epoch.loss).toBeGreaterThan(0);
        // d2l 9.7's step: the embeddings, both stacks, the fused masked loss and Adam's one pass on the kernels.
        expect(events.find((e) => e.event === 'path')!.ops).toEqual([
          { op: 'gatherRows', kernels: true },
          { op: 'fusedRecurrence', kernels: true },
          { op: 'denseCrossEntropy', kernels: true },
          { op: 'clippedUpdate', kernels: true },
        ]);
        expect(epoch.d2lLoss).toBeCloseTo((epoch.loss as number) / 10, 12);
        expect(events.at(-1)!.d2lLoss).toBe(epoch.d2lLoss);
      }
    }
  }, 240_000); // several runs of the bin each; slow on a loaded machine

  it('classify on your own labelled texts', () => {
    const data = fileURLToPath(new URL('./fixtures/sentences.tsv', import.meta.url));
    const r = rnnkit(['classify', '--data', data, '--epochs', '1', '--hidden', '8', '--out', 'cls', '--text', 'why?', '--backend', 'wasm', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(checkContract('classify', r.stdout).map((e) => e.event)).toEqual(['start', 'epoch', 'done']);
  }, 240_000); // several runs of the bin each; slow on a loaded machine

  it('bench: JSON rows with case and tokensPerSecond (what ../shared/pytorch/side_by_side.py reads), no table', () => {
    const r = rnnkit(['bench', '--backends', 'wasm', '--only', 'fused-rnn-256', '--steps', '1', '--warmup', '0', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const rows = checkContract('bench', r.stdout).filter((e) => e.event === 'row');
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ case: 'fused-rnn-256', tokensPerSecond: expect.any(Number) });
  }, 240_000); // several runs of the bin each; slow on a loaded machine

  it('bench without --json prints the table only, not a JSON array after it', () => {
    const r = rnnkit(['bench', '--backends', 'wasm', '--only', 'fused-rnn-256', '--steps', '1', '--warmup', '0']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).not.toMatch(/^\[/m);
    expect(r.stdout.trim().split('\n')).toHaveLength(2);
  }, 240_000); // several runs of the bin each; slow on a loaded machine

  it('translate --checkpoint leaves out what does not exist (no loss without training) instead of null', () => {
    const r = rnnkit(['translate', '--checkpoint', 'tr', '--out', 'tr', '--held-out', '0', '--backend', 'wasm', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const events = parseLines(r.stdout);
    expect(events.map((e) => e.event)).toEqual(['start', 'done']);
    const done = events[1]!;
    expect(done).toMatchObject({ trained: false, heldOutPairs: 0, files: { metrics: expect.any(String) } });
    expect(Object.entries(done).filter(([, v]) => v === null)).toEqual([]);
    expect(done).not.toHaveProperty('loss');
    expect(done).not.toHaveProperty('heldOutBleu');
  }, 240_000); // several runs of the bin each; slow on a loaded machine

  it('without --json the backend line goes to stderr, never stdout, in every command', () => {
    for (const [command, args] of [
      ['train', ['--hidden', '8', '--batch-size', '4', '--num-steps', '5', '--max-tokens', '500', '--epochs', '1', '--out', 'plain']],
      ['generate', ['--checkpoint', 'plain', '--length', '3']],
      ['toy', ['--epochs', '1']],
      ['translate', ['--checkpoint', 'tr', '--out', 'tr', '--held-out', '0']], // tr: trained by the translate run above
      ['bench', ['--backends', 'wasm', '--only', 'fused-rnn-256', '--steps', '1', '--warmup', '0']],
    ] as const) {
      const r = rnnkit([command, ...args, ...(command === 'bench' ? [] : ['--backend', 'wasm'])]);
      expect(r.code, `${command}: ${r.stderr}`).toBe(0);
      expect(r.stderr, command).toMatch(/^backend: wasm \((rnnkit kernels: (relaxed|plain) SIMD, \d+ threads?|stock kernels)\)$/m);
      expect(r.stdout, command).not.toMatch(/backend: /);
    }
  }, 240_000); // several runs of the bin each; slow on a loaded machine

  it('a failure ends with an error event (message, exitCode) on stdout', () => {
    for (const [args, exitCode] of [
      [['generate', '--checkpoint', 'nowhere', '--backend', 'wasm', '--json'], 1],
      [['train', '--bogus', '--json'], 2],
    ] as const) {
      const r = rnnkit([...args]);
      expect(r.code).toBe(exitCode);
      const last = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Event;
      expect(last).toMatchObject({ event: 'error', message: expect.any(String), exitCode });
    }
  }, 240_000); // several runs of the bin each; slow on a loaded machine

  it('the README documents every event of every command with its fields', () => {
    const section = readme.slice(readme.indexOf('## JSON output'));
    expect(section.length).toBeLessThan(readme.length);
    for (const [command, events] of Object.entries(EVENTS)) {
      for (const [event, fields] of Object.entries(events)) {
        const row = section.split('\n').find((l) => l.startsWith(`| ${command} | \`${event}\``));
        expect(row, `README row for ${command} ${event}`).toBeDefined();
        for (const f of fields) expect(row, `${command} ${event}.${f}`).toContain(`\`${f}\``);
      }
    }
  }, 240_000); // several runs of the bin each; slow on a loaded machine
});
