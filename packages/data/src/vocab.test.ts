import { describe, expect, it } from 'vitest';
import { Vocab, countTokens } from './vocab.js';

describe('Vocab', () => {
  it('puts <unk> first, then reserved tokens, then tokens by frequency with ties in first-seen order', () => {
    const vocab = new Vocab(
      [
        ['b', 'a', 'c'],
        ['a', 'c', 'd'],
      ],
      { reservedTokens: ['<pad>', '<bos>'] },
    );
    expect(vocab.idxToToken).toEqual(['<unk>', '<pad>', '<bos>', 'a', 'c', 'b', 'd']);
    expect(vocab.tokenFreqs).toEqual([
      ['a', 2],
      ['c', 2],
      ['b', 1],
      ['d', 1],
    ]);
    expect(vocab.size).toBe(7);
  });

  it('maps unknown tokens to <unk> and looks up both ways', () => {
    const vocab = new Vocab(['x', 'y', 'y']);
    expect(vocab.indexOf('y')).toBe(1);
    expect(vocab.indexOf('never seen')).toBe(0);
    expect(vocab.indicesOf(['x', 'zzz', 'y'])).toEqual([2, 0, 1]);
    expect(vocab.tokensOf([1, 2, 0])).toEqual(['y', 'x', '<unk>']);
    expect(() => vocab.tokenOf(99)).toThrow(/outside this vocabulary of 3 tokens/);
  });

  it('drops tokens below minFreq', () => {
    const vocab = new Vocab(['a', 'a', 'a', 'b', 'b', 'c'], { minFreq: 2 });
    expect(vocab.idxToToken).toEqual(['<unk>', 'a', 'b']);
    expect(vocab.indexOf('c')).toBe(0);
    // Frequencies still list every token, as d2l's token_freqs does.
    expect(vocab.tokenFreqs.map(([t]) => t)).toEqual(['a', 'b', 'c']);
  });

  it('handles empty input', () => {
    const vocab = new Vocab([]);
    expect(vocab.idxToToken).toEqual(['<unk>']);
    expect(vocab.indexOf('a')).toBe(0);
    expect(new Vocab([[], []]).size).toBe(1);
  });

  it('does not duplicate a reserved token that also occurs in the text, nor <unk>', () => {
    const vocab = new Vocab(['<pad>', 'a', '<unk>'], { reservedTokens: ['<pad>'] });
    expect(vocab.idxToToken).toEqual(['<unk>', '<pad>', 'a']);
  });

  it('round-trips through JSON with the same indices', () => {
    const vocab = new Vocab(
      [
        ['t', 'h', 'e'],
        ['e', 'n', 'd'],
      ],
      { reservedTokens: ['<eos>'] },
    );
    const copy = Vocab.fromJSON(JSON.parse(JSON.stringify(vocab)));
    expect(copy.idxToToken).toEqual(vocab.idxToToken);
    expect(copy.tokenFreqs).toEqual(vocab.tokenFreqs);
    expect(copy.indexOf('e')).toBe(vocab.indexOf('e'));
    expect(copy.equals(vocab)).toBe(true);
    expect(copy.equals(new Vocab(['q']))).toBe(false);
  });

  it('rejects JSON that is not a vocabulary', () => {
    expect(() => Vocab.fromJSON({ idxToToken: ['a'] })).toThrow(/Not an rnnkit vocabulary/);
    expect(() => Vocab.fromJSON(null)).toThrow(/Not an rnnkit vocabulary/);
  });

  it('counts flat and nested token lists alike', () => {
    expect([...countTokens(['a', 'b', 'a'])]).toEqual([
      ['a', 2],
      ['b', 1],
    ]);
    expect([...countTokens([['a'], ['b', 'a']])]).toEqual([
      ['a', 2],
      ['b', 1],
    ]);
  });
});
