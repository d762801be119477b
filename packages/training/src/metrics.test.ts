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

describe('bleu (d2l) edge cases, as d2l PyTorch script scores them', () => {
  it('a prediction shorter than k has no k-grams and scores 0', () => {
    expect(bleu(t('va'), t('va'))).toBe(0);
    expect(bleu(t('va'), t('va'), 1)).toBe(1);
    expect(bleu(t('a b'), t('a b'), 3)).toBe(0);
  });

  it('the unk token of the options never matches, even a reference token spelled the same', () => {
    expect(bleu(t('<unk> b'), t('<unk> b'))).toBe(1);
    // p1 = 1/2, p2 = 0/1.
    expect(bleu(t('<unk> b'), t('<unk> b'), 2, { unk: '<unk>' })).toBe(0);
    expect(bleu(t('<unk> b'), t('<unk> b'), 1, { unk: '<unk>' })).toBeCloseTo(Math.sqrt(1 / 2), 12);
    expect(bleu(t('<unk> b c'), t('x b c'), 2, { unk: '<unk>' })).toBeCloseTo(Math.sqrt(2 / 3) * Math.pow(1 / 2, 1 / 4), 12);
  });
});
