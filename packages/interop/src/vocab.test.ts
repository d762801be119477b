import { describe, expect, it } from 'vitest';
import { checkCharacterVocab, vocabFromTokens, vocabTokens } from './index.js';

describe('vocab.json (idx_to_token)', () => {
  it('reads the tokens in their order', () => {
    expect(vocabTokens(vocabFromTokens(['<unk>', ' ', 'e', 't'], 'v.json'))).toEqual(['<unk>', ' ', 'e', 't']);
  });

  it.each([
    [{ src: [] }, /^v\.json: is not a JSON array of tokens/],
    [[], /^v\.json: holds no tokens\.$/],
    [['<unk>', 'a', 3], /^v\.json: holds 3 at index 2: every token must be a string\.$/],
    [['<unk>', 'a', ''], /^v\.json: holds an empty token at index 2: every token must be a non-empty string\.$/],
    [['<unk>', 'a', 'a'], /^v\.json: holds the token "a" twice \(indices 1 and 2\)\.$/],
    [['a', '<unk>'], /^v\.json: starts with "a"; d2l's Vocab puts "<unk>" at index 0\.$/],
  ])('refuses %j, naming the file', (tokens, message) => {
    expect(() => vocabFromTokens(tokens, 'v.json')).toThrow(message);
  });

  it("refuses a word vocabulary where a character model's is read, naming the file and the reader", () => {
    expect(() => checkCharacterVocab(vocabFromTokens(['<unk>', ' ', 'é', 'the'], 'v.json'), 'v.json', 'this page')).toThrow(
      /^v\.json: holds the token "the" at index 3: this page reads character language models/,
    );
    expect(() => checkCharacterVocab(vocabFromTokens(['<unk>', ' ', 'é', '😀'], 'v.json'), 'v.json', 'this page')).not.toThrow();
  });
});
