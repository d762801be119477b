// Texts outside d2l's a-z: what each preprocessing keeps, other alphabets, binary files.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { keptFraction, preprocessLine, preprocessPrefix, preprocessText } from './text.js';
import { decodeText } from './timemachine.js';
import { loadCorpusTimeMachine, readTextFile } from './timemachine-node.js';

const dir = mkdtempSync(join(tmpdir(), 'rnnkit-text-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const RUSSIAN = 'Путешественник во Времени, ибо так нам удобнее называть его, что-то нам рассказывал.\n';

describe('preprocessing modes', () => {
  it("'d2l' keeps a-z lower-cased; 'letters' keeps every Unicode letter; 'raw' keeps all", () => {
    const line = 'Café Öl, 42 Путь! 🙂 Time';
    expect(preprocessLine(line)).toBe('caf l time');
    expect(preprocessLine(line, 'd2l')).toBe(preprocessLine(line));
    expect(preprocessLine(line, 'letters')).toBe('café öl путь time');
    expect(preprocessLine(line, 'raw')).toBe(line);
    // @ts-expect-error: not a mode
    expect(() => preprocessLine(line, 'words')).toThrow(/Unknown preprocessing "words": use "d2l", "letters", "raw"/);
  });

  it('keptFraction measures what preprocessing dropped', () => {
    expect(keptFraction('The Time Machine', preprocessText('The Time Machine'))).toBe(1);
    expect(keptFraction(RUSSIAN, preprocessText(RUSSIAN))).toBe(0);
    expect(keptFraction(RUSSIAN, preprocessText(RUSSIAN, 'letters'))).toBeGreaterThan(0.9);
  });

  it('a prefix is preprocessed like the text, keeping one trailing space', () => {
    expect(preprocessPrefix('Time Traveller!')).toBe('time traveller ');
    expect(preprocessPrefix('time traveller')).toBe('time traveller');
    expect(preprocessPrefix('  Путь ', 'letters')).toBe('путь ');
    expect(preprocessPrefix('!!!')).toBe('');
    expect(preprocessPrefix('Raw!', 'raw')).toBe('Raw!');
  });
});

describe('corpus files', () => {
  it('a Cyrillic text has no tokens under d2l (the error names the fix) and trains under letters', async () => {
    const file = join(dir, 'ru.txt');
    writeFileSync(file, RUSSIAN.repeat(20));
    await expect(loadCorpusTimeMachine({ source: { path: file } })).rejects.toThrow(/keeps only the letters a-z; for other alphabets use preprocess 'letters'/);
    const { vocab, keptFraction: kept } = await loadCorpusTimeMachine({ source: { path: file }, preprocess: 'letters' });
    expect(vocab.has('ш')).toBe(true);
    expect(kept).toBeGreaterThan(0.9);
  });

  it('binary files are refused: NUL bytes or invalid UTF-8', async () => {
    expect(decodeText(new Uint8Array([0x68, 0x69]))).toBe('hi');
    expect(decodeText(new Uint8Array([0xef, 0xbb, 0xbf, 0x68]))).toBe('h');
    expect(decodeText(new Uint8Array([0x68, 0x00, 0x69]))).toBeNull();
    expect(decodeText(new Uint8Array([0x68, 0xff, 0x69]))).toBeNull();
    const file = join(dir, 'program');
    writeFileSync(file, Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1, 0, 0, 0]));
    await expect(readTextFile(file)).rejects.toThrow(
      `The corpus file ${file} is not a text file (it has NUL bytes or is not valid UTF-8): use a UTF-8 text file.`,
    );
  });
});
