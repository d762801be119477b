import { describe, expect, it } from 'vitest';
import { preprocessLine, preprocessText, splitLines, tokenize } from './text.js';

describe('text preprocessing', () => {
  it('replaces runs of non-letters by one space, trims and lower-cases (d2l)', () => {
    expect(preprocessLine('  The Time-Traveller (for so it will be convenient...)\n')).toBe('the time traveller for so it will be convenient');
    expect(preprocessLine('I.  1894!')).toBe('i');
    expect(preprocessLine('***')).toBe('');
  });

  it('splits lines like Python readlines', () => {
    expect(splitLines('a\nb\n')).toEqual(['a', 'b']);
    expect(splitLines('a\r\n\r\nb')).toEqual(['a', '', 'b']);
    expect(preprocessText('Hi,\nthere\n')).toEqual(['hi', 'there']);
  });

  it('tokenizes into characters or words', () => {
    expect(tokenize(['ab c'], 'char')).toEqual([['a', 'b', ' ', 'c']]);
    expect(tokenize(['ab c', ''], 'word')).toEqual([['ab', 'c'], []]);
    expect(() => tokenize(['a'], 'byte' as never)).toThrow(/Unknown token kind "byte"/);
  });
});
