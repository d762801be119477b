/**
 * d2l `bleu(pred_seq, label_seq, k)`: the brevity penalty exp(min(0, 1 - len_label / len_pred))
 * times the product over n = 1..k of the clipped n-gram precision p_n raised to 1/2^n, on token
 * arrays (d2l's strings split at spaces; characters for a character-level task).
 *
 * An empty prediction scores 0, and so does one shorter than k (it has no k-grams: d2l's code
 * divides by zero there, and d2l's PyTorch script in this project scores 0). `options.unk` names a
 * predicted token that never matches: a predicted `<unk>` is a word the model could not spell,
 * not the reference's word, even when that word is outside the vocabulary.
 */
export function bleu(prediction: readonly string[], label: readonly string[], k = 2, options: { unk?: string } = {}): number {
  const lenPred = prediction.length;
  const lenLabel = label.length;
  if (lenPred === 0) return 0;
  let score = Math.exp(Math.min(0, 1 - lenLabel / lenPred));
  for (let n = 1; n <= k; n++) {
    if (lenPred - n + 1 <= 0) return 0;
    const labelSubs = new Map<string, number>();
    for (let i = 0; i + n <= lenLabel; i++) {
      const g = label.slice(i, i + n).join('\u0000');
      labelSubs.set(g, (labelSubs.get(g) ?? 0) + 1);
    }
    let matches = 0;
    for (let i = 0; i + n <= lenPred; i++) {
      const gram = prediction.slice(i, i + n);
      if (options.unk !== undefined && gram.includes(options.unk)) continue;
      const g = gram.join('\u0000');
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
