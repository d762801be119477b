import { describe, expect, it } from 'vitest';
import { D2L_TEXT_ENCODING, describeEncoding, encodePrefix, joinTokens, prefixText, textEncoding, corpusTokens } from './encoding.js';
import { SeqDataLoader, seqDataEvalBatches, splitCorpus } from './seqdata.js';
import { corpusFromLines, corpusFromText } from './timemachine.js';
import { loadDataTimeMachine } from './timemachine-browser.js';
import { Vocab } from './vocab.js';

const TEXT = 'The quick brown fox\njumps over the lazy dog.\n\nTHE END\n';
const textOf = (text: string, options: Parameters<typeof textEncoding>[0]) => {
  const encoding = textEncoding(options);
  return joinTokens(corpusTokens(text, encoding), encoding);
};

describe('text encodings: what becomes of line breaks', () => {
  it("'d2l' joins the lines with nothing, as d2l's load_corpus_time_machine does", () => {
    expect(textOf(TEXT, { preprocess: 'd2l' })).toBe('the quick brown foxjumps over the lazy dogthe end');
    expect(textEncoding()).toEqual(D2L_TEXT_ENCODING);
  });

  it("'letters' joins them with a space; 'raw' keeps every character, line breaks included", () => {
    expect(textOf(TEXT, { preprocess: 'letters' })).toBe('the quick brown fox jumps over the lazy dog the end');
    expect(textOf(TEXT, { preprocess: 'raw' })).toBe(TEXT);
    expect(textOf('a\r\nb\r\n', { preprocess: 'raw' })).toBe('a\nb\n');
    expect(textOf('no final break', { preprocess: 'raw' })).toBe('no final break');
    const { vocab } = corpusFromText(TEXT, { preprocess: 'raw' });
    expect(vocab.has('\n')).toBe(true);
    expect(vocab.has('T')).toBe(true);
  });

  it('words: d2l tokenize(lines, "word"); a line break is a token of its own under raw', () => {
    expect(corpusTokens(TEXT, textEncoding({ tokens: 'word' }))).toEqual('the quick brown fox jumps over the lazy dog the end'.split(' '));
    const raw = textEncoding({ preprocess: 'raw', tokens: 'word' });
    const tokens = corpusTokens(TEXT, raw);
    expect(tokens.slice(0, 6)).toEqual(['The', 'quick', 'brown', 'fox', '\n', 'jumps']);
    expect(tokens.filter((t) => t === '\n')).toHaveLength(4);
    expect(joinTokens(tokens, raw)).toBe('The quick brown fox\njumps over the lazy dog.\n\nTHE END\n');
  });

  it('the encoding of an old checkpoint (lines joined with nothing) still reads raw text as it did', () => {
    expect(textOf(TEXT, { preprocess: 'raw', lineBreak: '' })).toBe('The quick brown foxjumps over the lazy dog.THE END');
  });

  it('refuses an unknown mode, token kind or line break, naming the choices', () => {
    // @ts-expect-error: not a mode
    expect(() => textEncoding({ preprocess: 'lower' })).toThrow(/Unknown preprocessing "lower": use "d2l", "letters", "raw"/);
    // @ts-expect-error: not a kind
    expect(() => textEncoding({ tokens: 'byte' })).toThrow(/Unknown token kind "byte": use "char" or "word"/);
    // @ts-expect-error: not a break
    expect(() => textEncoding({ lineBreak: '\t' })).toThrow(/Unknown line break/);
    expect(describeEncoding(textEncoding({ preprocess: 'raw', tokens: 'word' }))).toBe('every character; words; line breaks kept');
  });
});

describe('encodePrefix: one way from a prefix to ids', () => {
  const licence = 'This License applies to any program.\nThe Program, below, refers to any such program.\n'.repeat(3);

  it('treats a prefix as the training text was treated, for each mode and token kind', () => {
    for (const [options, prefix, text, tokens] of [
      [{ preprocess: 'd2l' }, 'This License', 'this license', 'this license'.split('')],
      [{ preprocess: 'd2l' }, 'This License!', 'this license ', 'this license '.split('')],
      [{ preprocess: 'd2l' }, 'This\nLicense', 'thislicense', 'thislicense'.split('')],
      [{ preprocess: 'letters' }, 'This\nLicense', 'this license', 'this license'.split('')],
      [{ preprocess: 'raw' }, 'This\r\nLicense', 'This\nLicense', 'This\nLicense'.split('')],
      [{ tokens: 'word' }, 'This License!', 'this license ', ['this', 'license']],
      [{ preprocess: 'raw', tokens: 'word' }, 'This License\nThe', 'This License\nThe', ['This', 'License', '\n', 'The']],
    ] as const) {
      const encoding = textEncoding(options);
      const { vocab } = corpusFromText(licence, encoding);
      const encoded = encodePrefix(prefix, vocab, encoding);
      expect(encoded.text, JSON.stringify(options)).toBe(text);
      expect(encoded.tokens).toEqual(tokens);
      expect(encoded.ids).toEqual(vocab.indicesOf(tokens));
      expect(encoded.unknownTokens).toEqual([]);
    }
  });

  it('names the tokens outside the vocabulary, once each', () => {
    const encoding = textEncoding({ tokens: 'word' });
    const { vocab } = corpusFromText(licence, encoding);
    const encoded = encodePrefix('This zebra license zebra', vocab, encoding);
    expect(encoded.ids).toEqual([vocab.indexOf('this'), 0, vocab.indexOf('license'), 0]);
    expect(encoded.unknownTokens).toEqual(['zebra']);
    expect(prefixText('!!!', D2L_TEXT_ENCODING)).toBe('');
  });
});

describe('word corpora', () => {
  it('minFreq maps rare words to <unk>', () => {
    const { corpus, vocab } = corpusFromText('a a a b b c\n', { tokens: 'word', minFreq: 2 });
    expect(vocab.idxToToken).toEqual(['<unk>', 'a', 'b']);
    expect(Array.from(corpus)).toEqual([1, 1, 1, 2, 2, 0]);
    expect(() => corpusFromText('a', { minFreq: -1 })).toThrow(/minFreq must be a whole number >= 0, got -1/);
  });

  it('The Time Machine in words: the same corpus as lines joined with nothing, and its total', async () => {
    const data = await loadDataTimeMachine({ batchSize: 8, numSteps: 10, tokens: 'word', maxTokens: 0 });
    expect(data.encoding).toEqual({ preprocess: 'd2l', tokens: 'word', lineBreak: '' });
    expect(data.corpus.length).toBe(32775);
    expect(data.totalTokens).toBe(32775);
    const short = await loadDataTimeMachine({ batchSize: 8, numSteps: 10, maxTokens: 10000 });
    expect(short.corpus.length).toBe(10000);
    expect(short.totalTokens).toBe(170580);
    expect(corpusFromLines(['a b', 'c'], { tokens: 'word' }).totalTokens).toBe(3);
  });
});

describe('validation split', () => {
  // Token i has id i, so a batch shows which positions it read.
  const n = 5000;
  const corpus = Int32Array.from({ length: n }, (_, i) => i);

  it('holds out the last fraction: no training batch ever reads a validation position', () => {
    const { train, validation } = splitCorpus(corpus, 0.1);
    expect(train.length).toBe(4500);
    expect(validation[0]).toBe(4500);
    for (const useRandomIter of [false, true]) {
      const loader = new SeqDataLoader(train, { batchSize: 8, numSteps: 35, useRandomIter, seed: 3 });
      let max = -1;
      for (let epoch = 0; epoch < 40; epoch++) for (const b of loader) for (const id of [...b.X, ...b.Y]) max = Math.max(max, id);
      expect(max).toBeLessThan(4500);
      expect(max).toBeGreaterThan(4400); // the training part is read to its end
    }
    const batches = seqDataEvalBatches(validation, 8, 35);
    const seen = batches.flatMap((b) => [...b.X, ...b.Y]);
    expect(Math.min(...seen)).toBe(4500);
    expect(Math.max(...seen)).toBeLessThan(n);
  });

  it('evaluation batches: the same every time, rows continuing each other, fewer rows for a short part', () => {
    const short = corpus.subarray(0, 200);
    const batches = seqDataEvalBatches(short, 32, 35);
    expect(batches[0]?.batchSize).toBe(5); // (200 - 1) / 35 rows
    expect(batches).toHaveLength(1);
    const long = seqDataEvalBatches(corpus, 4, 10);
    expect(long[1]?.X[0]).toBe((long[0]?.X[9] as number) + 1);
    expect(seqDataEvalBatches(corpus, 4, 10)).toEqual(long);
    expect(() => seqDataEvalBatches(corpus.subarray(0, 10), 4, 10)).toThrow(/needs at least 11 tokens/);
    expect(() => splitCorpus(corpus, 1)).toThrow(/valFraction must be a number from 0/);
  });

  it('loadDataTimeMachine gives the loader the first part and the validation the rest', async () => {
    const data = await loadDataTimeMachine({ batchSize: 32, numSteps: 35, maxTokens: 20000, valFraction: 0.1 });
    expect(data.loader.corpus.length).toBe(18000);
    expect(data.validation?.corpus.length).toBe(2000);
    expect(data.validation?.corpus[0]).toBe(data.corpus[18000]);
    expect(data.validation?.batches.length).toBeGreaterThan(0);
    expect((await loadDataTimeMachine({ batchSize: 32, numSteps: 35 })).validation).toBeUndefined();
  });
});

it('a prefix of The Time Machine in d2l mode gives the ids of its corpus', async () => {
  const vocab = new Vocab([...'time traveller']);
  expect(encodePrefix('Time Traveller', vocab).ids).toEqual(vocab.indicesOf('time traveller'));
});
