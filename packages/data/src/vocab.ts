/** Options for building a {@link Vocab}. */
export interface VocabOptions {
  /** Tokens seen fewer times than this are left out (they map to `<unk>`). Default 0. */
  minFreq?: number;
  /** Tokens placed right after `<unk>`, in this order, whatever their frequency. */
  reservedTokens?: readonly string[];
}

/** The JSON form of a {@link Vocab} (what a checkpoint stores). */
export interface VocabJSON {
  format: 'rnnkit-vocab';
  version: 1;
  idxToToken: string[];
  tokenFreqs: [string, number][];
}

export const UNK = '<unk>';

/**
 * A token <-> index mapping, as d2l's `Vocab`: `<unk>` at index 0, then the reserved tokens, then
 * the tokens by descending frequency with ties in first-seen order. Unknown tokens map to 0.
 */
export class Vocab {
  readonly idxToToken: readonly string[];
  /** (token, count) pairs by descending count, ties in first-seen order. */
  readonly tokenFreqs: readonly (readonly [string, number])[];
  private readonly tokenToIdx: Map<string, number>;

  constructor(tokens: readonly string[] | readonly (readonly string[])[] = [], options: VocabOptions = {}) {
    if (tokens === null || typeof tokens !== 'object' || typeof (tokens as Iterable<unknown>)[Symbol.iterator] !== 'function') {
      throw new TypeError(`Vocab needs an array of tokens (or of token lists), e.g. new Vocab(['a', 'b']); got ${tokens === null ? 'null' : typeof tokens}.`);
    }
    const minFreq = options.minFreq ?? 0;
    const reserved = options.reservedTokens ?? [];
    if (!Number.isFinite(minFreq)) throw new RangeError(`Vocab minFreq must be a number, got ${minFreq}`);
    const counts = countTokens(tokens);
    // Array.prototype.sort is stable, so equal counts keep first-seen order.
    const freqs = [...counts.entries()].sort((a, b) => b[1] - a[1]);
    const idxToToken: string[] = [UNK];
    const tokenToIdx = new Map<string, number>([[UNK, 0]]);
    const add = (token: string): void => {
      if (!tokenToIdx.has(token)) {
        tokenToIdx.set(token, idxToToken.length);
        idxToToken.push(token);
      }
    };
    reserved.forEach(add);
    for (const [token, freq] of freqs) {
      if (freq < minFreq) break;
      add(token);
    }
    this.idxToToken = idxToToken;
    this.tokenToIdx = tokenToIdx;
    this.tokenFreqs = freqs;
  }

  get size(): number {
    return this.idxToToken.length;
  }

  /** Index of `<unk>`, always 0. */
  get unk(): number {
    return 0;
  }

  has(token: string): boolean {
    return this.tokenToIdx.has(token);
  }

  /** Index of one token; unknown tokens give `<unk>`'s index. */
  indexOf(token: string): number {
    return this.tokenToIdx.get(token) ?? 0;
  }

  /** Indices of many tokens (d2l `vocab[tokens]`). */
  indicesOf(tokens: Iterable<string>): number[] {
    const out: number[] = [];
    for (const t of tokens) out.push(this.indexOf(t));
    return out;
  }

  /** Token at one index (d2l `to_tokens`). */
  tokenOf(index: number): string {
    const token = this.idxToToken[index];
    if (token === undefined) throw new RangeError(`Index ${index} is outside this vocabulary of ${this.size} tokens.`);
    return token;
  }

  tokensOf(indices: Iterable<number>): string[] {
    const out: string[] = [];
    for (const i of indices) out.push(this.tokenOf(i));
    return out;
  }

  toJSON(): VocabJSON {
    return {
      format: 'rnnkit-vocab',
      version: 1,
      idxToToken: [...this.idxToToken],
      tokenFreqs: this.tokenFreqs.map(([t, f]) => [t, f]),
    };
  }

  /** Rebuilds a vocabulary saved with `toJSON`, with exactly the same indices. */
  static fromJSON(json: unknown): Vocab {
    const data = json as Partial<VocabJSON> | null;
    if (data?.format !== 'rnnkit-vocab' || !Array.isArray(data.idxToToken) || data.idxToToken[0] !== UNK || !Array.isArray(data.tokenFreqs)) {
      throw new Error('Not an rnnkit vocabulary: expected JSON written by Vocab.toJSON() (format "rnnkit-vocab").');
    }
    const vocab = Object.create(Vocab.prototype) as Vocab;
    const idxToToken = data.idxToToken.map(String);
    Object.assign(vocab, {
      idxToToken,
      tokenFreqs: data.tokenFreqs.map(([t, f]) => [String(t), Number(f)] as const),
      tokenToIdx: new Map(idxToToken.map((t, i) => [t, i])),
    });
    return vocab;
  }

  /** True when both map the same tokens to the same indices. */
  equals(other: Vocab): boolean {
    return this.size === other.size && this.idxToToken.every((t, i) => other.idxToToken[i] === t);
  }
}

/** d2l `count_corpus`: counts tokens of a flat list or of a list of lines, in first-seen order. */
export function countTokens(tokens: readonly string[] | readonly (readonly string[])[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of tokens) {
    if (typeof item === 'string') counts.set(item, (counts.get(item) ?? 0) + 1);
    else for (const t of item) counts.set(t, (counts.get(t) ?? 0) + 1);
  }
  return counts;
}
