/**
 * d2l `bleu`: the brevity penalty exp(min(0, 1 - len_label / len_pred)) times the product over
 * n = 1..k of the clipped n-gram precision p_n raised to 1/2^n. Works on token arrays (characters
 * for a character-level task). An empty prediction scores 0.
 */
export function bleu(prediction: readonly string[], label: readonly string[], k = 2): number {
  const lenPred = prediction.length;
  const lenLabel = label.length;
  if (lenPred === 0) return 0;
  let score = Math.exp(Math.min(0, 1 - lenLabel / lenPred));
  for (let n = 1; n <= Math.min(k, lenPred); n++) {
    const labelSubs = new Map<string, number>();
    for (let i = 0; i + n <= lenLabel; i++) {
      const g = label.slice(i, i + n).join('\u0000');
      labelSubs.set(g, (labelSubs.get(g) ?? 0) + 1);
    }
    let matches = 0;
    for (let i = 0; i + n <= lenPred; i++) {
      const g = prediction.slice(i, i + n).join('\u0000');
      const left = labelSubs.get(g) ?? 0;
      if (left > 0) {
        matches++;
        labelSubs.set(g, left - 1);
      }
    }
    score *= Math.pow(matches / (lenPred - n + 1), Math.pow(0.5, n));
  }
  return score;
}
