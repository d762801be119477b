// Texts outside d2l's a-z through the bin: other alphabets, the dropped-text warning, binary
// files, and generate's prefix preprocessed as the training text was.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
const tiny = ['--hidden', '16', '--batch-size', '4', '--num-steps', '8', '--max-tokens', '0', '--epochs', '1', '--backend', 'wasm'];
const RUSSIAN = 'Путешественник во Времени, ибо так нам удобнее называть его, что-то нам рассказывал.\n'.repeat(30);

beforeAll(() => {
  if (!existsSync(bin)) throw new Error(`${bin} is missing: run "pnpm build" before the CLI tests.`);
  dir = mkdtempSync(join(tmpdir(), 'rnnkit-text-'));
  writeFileSync(join(dir, 'ru.txt'), RUSSIAN);
  writeFileSync(join(dir, 'mostly-ru.txt'), `${RUSSIAN}The Time Traveller (for so it will be convenient to speak of him).\n`);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('corpora outside a-z', () => {
  it('a Cyrillic text: d2l preprocessing names --preprocess letters; with it, the run trains on Cyrillic', () => {
    const d2l = rnnkit(['train', ...tiny, '--corpus', 'ru.txt', '--out', 'ru-d2l']);
    expect(d2l.code).toBe(1);
    expect(d2l.stderr).toMatch(/keeps only the letters a-z; for other alphabets use --preprocess 'letters'/);
    const letters = rnnkit(['train', ...tiny, '--corpus', 'ru.txt', '--preprocess', 'letters', '--out', 'ru']);
    expect(letters.code, letters.stderr).toBe(0);
    expect(letters.stderr).not.toMatch(/warning/);
    const g = rnnkit(['generate', '--checkpoint', 'ru', '--prefix', 'Путь!', '--length', '3', '--backend', 'wasm']);
    expect(g.code, g.stderr).toBe(0);
    expect(g.stdout).toMatch(/^путь .{3}\n$/);
  }, 240_000); // several runs of the bin each; slow on a loaded machine

  it('warns when preprocessing dropped most of the text', () => {
    const r = rnnkit(['train', ...tiny, '--corpus', 'mostly-ru.txt', '--out', 'mostly']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /^warning: preprocessing \(d2l's a-z, lower-cased\) kept only \d+% of the text's characters; for other alphabets use --preprocess letters \(or raw\)\.$/m,
    );
  }, 240_000); // several runs of the bin each; slow on a loaded machine

  it('--preprocess raw keeps case and punctuation; characters outside the vocabulary are named', () => {
    writeFileSync(join(dir, 'raw.txt'), 'The Time Traveller, for so it will be convenient to speak of him.\n'.repeat(20));
    expect(rnnkit(['train', ...tiny, '--corpus', 'raw.txt', '--preprocess', 'raw', '--out', 'raw']).code).toBe(0);
    const g = rnnkit(['generate', '--checkpoint', 'raw', '--prefix', 'The Time Z', '--length', '2', '--backend', 'wasm']);
    expect(g.code).toBe(0);
    expect(g.stdout).toMatch(/^The Time Z.{2}\n$/s);
    expect(g.stderr).toMatch(/"Z" is not in the vocabulary; fed to the model as <unk>/);
  }, 240_000); // several runs of the bin each; slow on a loaded machine

  it('a binary file is refused', () => {
    const r = rnnkit(['train', ...tiny, '--corpus', process.execPath, '--out', 'bin']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`The corpus file ${process.execPath} is not a text file`);
  }, 240_000); // several runs of the bin each; slow on a loaded machine
});
