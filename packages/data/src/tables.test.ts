import { describe, expect, it } from 'vitest';
import { classificationData, encodeTexts, stratifiedSplit, textTokens } from './classification.js';
import { parseCsvColumn, parseTsv } from './tables.js';

describe('parseCsvColumn', () => {
  it('takes the last column of numbers by default, with a header, quotes and CRLF', () => {
    const c = parseCsvColumn('date,"sales, units",price\r\n2024-01-01,"1,0",3.5\r\n2024-01-02,2,4\r\n\r\n2024-01-03,3,-1e2\r\n');
    expect(c.header).toBe(true);
    expect(c.columns).toEqual(['date', 'sales, units', 'price']);
    expect(c.name).toBe('price');
    expect(Array.from(c.values)).toEqual([3.5, 4, -100]);
  });

  it('takes a column by name or 1-based number, and reads files without a header', () => {
    expect(Array.from(parseCsvColumn('a,b\n1,2\n3,4\n', { column: 'a' }).values)).toEqual([1, 3]);
    const plain = parseCsvColumn('1,10\n2,20\n', { column: '2' });
    expect(plain.header).toBe(false);
    expect(plain.name).toBe('column 2');
    expect(Array.from(plain.values)).toEqual([10, 20]);
    expect(Array.from(parseCsvColumn('5\n6\n7').values)).toEqual([5, 6, 7]);
  });

  it('names the line and column of a value that is not a number, and refuses other malformed files', () => {
    const file = 'data.csv';
    expect(() => parseCsvColumn('t,y\n1,2\n2,\n3,4\n', { file, column: 'y' })).toThrow(
      /^data\.csv, line 3, column "y": "" is not a number; fill in or remove that row\.$/,
    );
    expect(() => parseCsvColumn('t,y\n1,2\n2,NA\n', { file, column: 'y' })).toThrow(/line 3, column "y": "NA"/);
    expect(() => parseCsvColumn('t,y\n1,0x10\n', { file, column: 'y' })).toThrow(/"0x10" is not a number/);
    expect(() => parseCsvColumn('t,y\n1,2,3\n', { file })).toThrow(/^data\.csv, line 2: 3 fields where the first row has 2/);
    expect(() => parseCsvColumn('t,y\n1,2\n', { file, column: 'z' })).toThrow(/has no column "z": its columns are "t", "y" \(or give a number 1-2\)/);
    expect(() => parseCsvColumn('name,city\nann,rome\n', { file })).toThrow(/no column of numbers only .* --column/);
    expect(() => parseCsvColumn('y\n', { file })).toThrow(/a header but no rows/);
    expect(() => parseCsvColumn('\n\n', { file })).toThrow(/has no rows/);
    expect(() => parseCsvColumn('y\n1e999\n', { file })).toThrow(/too large/);
    expect(() => parseCsvColumn('t,y\n1,2\n2,1e308\n', { file })).toThrow(
      /^data\.csv, line 3, column "y": 1e308 is beyond the range of 32-bit floats \(about ±3\.4e38\) that models compute in; rescale the column\.$/,
    );
    expect(() => parseCsvColumn('t,y\n1\n', { file })).toThrow(/^data\.csv, line 2: 1 field where the first row has 2/);
    expect(() => parseCsvColumn('t;y\n1;2\n2;3\n', { file })).toThrow(
      /^data\.csv seems to separate its fields with semicolons: rnnkit reads comma-separated values \(replace each ";" with ","\)\.$/,
    );
  });
});

describe('parseTsv', () => {
  const fields = ['text', 'label'];
  it('reads one row per line, skipping blank lines, keeping quotes', () => {
    expect(parseTsv('\uFEFFgood "film"\tpos\r\n\nbad\tneg\n', { fields })).toEqual([
      ['good "film"', 'pos'],
      ['bad', 'neg'],
    ]);
  });

  it('names the line and what is wrong with it', () => {
    const file = 'labels.tsv';
    expect(() => parseTsv('a\tx\nno tab here\n', { fields, file })).toThrow(/^labels\.tsv, line 2: 1 tab-separated field, expected 2: text<TAB>label\.$/);
    expect(() => parseTsv('a\tb\tc\n', { fields, file })).toThrow(/line 1: 3 tab-separated fields, expected 2: text<TAB>label \(a field cannot hold a tab/);
    expect(() => parseTsv('a\t \n', { fields, file })).toThrow(/line 1: the label is empty/);
    expect(() => parseTsv('\tx\n', { fields: ['source', 'target'], file })).toThrow(/line 1: the source is empty \(each line is source<TAB>target\)/);
    expect(() => parseTsv('\n \n', { fields, file })).toThrow(/has no text<TAB>label lines/);
  });
});

describe('classification data', () => {
  it('tokenizes by character or by word', () => {
    expect(textTokens('ab c', 'char')).toEqual(['a', 'b', ' ', 'c']);
    expect(textTokens('  one  two\tthree ', 'word')).toEqual(['one', 'two', 'three']);
    expect(() => textTokens('x', 'bpe' as 'word')).toThrow(/Unknown token kind/);
  });

  it('pads on the right with <pad>, records each valid length, truncates and sorts the classes', () => {
    const d = classificationData(['abc', 'a', 'abcdef'], ['z', 'y', 'z'], { tokens: 'char', numSteps: 4 });
    expect(d.classes).toEqual(['y', 'z']);
    expect(Array.from(d.labels)).toEqual([1, 0, 1]);
    expect(d.vocab.idxToToken.slice(0, 2)).toEqual(['<unk>', '<pad>']);
    const pad = d.vocab.indexOf('<pad>');
    const ids = (s: string) => Array.from(s, (ch) => d.vocab.indexOf(ch));
    expect(Array.from(d.X.array)).toEqual([...ids('abc'), pad, ...ids('a'), pad, pad, pad, ...ids('abcd')]);
    expect(Array.from(d.X.validLen)).toEqual([3, 1, 4]);
    expect(d.truncated).toBe(1);
    // New texts with the same vocabulary: unknown tokens are <unk>; an empty one is a single <unk>.
    const e = encodeTexts(['xa', ''], d.vocab, 'char', 3);
    expect(Array.from(e.array)).toEqual([0, d.vocab.indexOf('a'), pad, 0, pad, pad]);
    expect(Array.from(e.validLen)).toEqual([2, 1]);
  });

  it('splits every class in the same share, reproducibly, and never takes the last row of a class', () => {
    const labels = [...Array<number>(50).fill(0), ...Array<number>(10).fill(1), 2];
    const { train, validation } = stratifiedSplit(labels, 0.2, 7);
    expect(train.length + validation.length).toBe(61);
    expect(new Set([...train, ...validation]).size).toBe(61);
    expect(validation.filter((i) => labels[i] === 0)).toHaveLength(10);
    expect(validation.filter((i) => labels[i] === 1)).toHaveLength(2);
    expect(train.filter((i) => labels[i] === 2)).toHaveLength(1);
    expect(stratifiedSplit(labels, 0.2, 7)).toEqual({ train, validation });
    expect(stratifiedSplit(labels, 0.2, 8).validation).not.toEqual(validation);
    expect(stratifiedSplit(labels, 0, 7).validation).toEqual([]);
  });
});
