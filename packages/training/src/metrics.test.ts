import { describe, expect, it } from 'vitest';
import { bleu } from './metrics.js';

const t = (s: string) => s.split(' ');

describe('bleu (d2l)', () => {
  it('is 1 for an exact match and 0 for an empty prediction', () => {
    expect(bleu(t('a b c d'), t('a b c d'))).toBe(1);
    expect(bleu([], t('a b'))).toBe(0);
  });

  it('combines clipped n-gram precisions with weights 1/2^n', () => {
    // p1 = 3/4, p2 = 1/3, no brevity penalty.
    expect(bleu(t('a b c d'), t('a b e d'))).toBeCloseTo(Math.sqrt(3 / 4) * Math.pow(1 / 3, 1 / 4), 12);
    // Repeated tokens count once per occurrence in the label.
    expect(bleu(t('a a a'), t('a b c'), 1)).toBeCloseTo(Math.sqrt(1 / 3), 12);
  });

  it('penalises short predictions', () => {
    // d2l's example shape: a 2-token prediction of a 4-token label, all n-grams right.
    expect(bleu(t('a b'), t('a b c d'))).toBeCloseTo(Math.exp(1 - 4 / 2), 12);
    expect(bleu(t('a b c d e'), t('a b c d'))).toBeLessThan(1);
  });
});
