// vocab.json: d2l's `vocab.idx_to_token`, a JSON array of the tokens in index order.
import { UNK, Vocab } from '@rnnkit/data';
import { refuse } from './errors.js';

/** d2l's `idx_to_token` of a vocabulary: what `vocab.json` holds. */
export function vocabTokens(vocab: Vocab): string[] {
  return [...vocab.idxToToken];
}

/**
 * Reads d2l's `idx_to_token` (the parsed `vocab.json`): an array of distinct non-empty strings, `<unk>`
 * first as d2l's Vocab has it. `file` names the file in refusals. The counts (`tokenFreqs`) are
 * stand-ins, falling by one per index, since the file has none.
 */
export function vocabFromTokens(tokens: unknown, file = 'vocab.json'): Vocab {
  if (!Array.isArray(tokens)) throw refuse(file, "is not a JSON array of tokens in index order (d2l's vocab.idx_to_token).");
  if (tokens.length === 0) throw refuse(file, 'holds no tokens.');
  const seen = new Map<string, number>();
  tokens.forEach((t, i) => {
    if (typeof t !== 'string') throw refuse(file, `holds ${JSON.stringify(t)} at index ${i}: every token must be a string.`);
    if (t === '') throw refuse(file, `holds an empty token at index ${i}: every token must be a non-empty string.`);
    const first = seen.get(t);
    if (first !== undefined) throw refuse(file, `holds the token ${JSON.stringify(t)} twice (indices ${first} and ${i}).`);
    seen.set(t, i);
  });
  if (tokens[0] !== UNK) throw refuse(file, `starts with ${JSON.stringify(tokens[0])}; d2l's Vocab puts "${UNK}" at index 0.`);
  // idx_to_token carries no counts; a Vocab's order follows its counts (d2l's), so the tokens after
  // <unk> get stand-in counts that fall by one per index and keep the order exactly.
  const tokenFreqs = (tokens.slice(1) as string[]).map((t, i): [string, number] => [t, tokens.length - 1 - i]);
  return Vocab.fromJSON({ format: 'rnnkit-vocab', version: 1, idxToToken: tokens, tokenFreqs });
}

/**
 * Refuses a vocabulary that is not one of characters (d2l's chapter 8 models, the only language
 * models a checkpoint holds): a word model's vocabulary of the right size would otherwise load
 * and generate nonsense. `reader` names what refuses it ("rnnkit import", "this page").
 */
export function checkCharacterVocab(vocab: Vocab, file: string, reader: string): void {
  vocab.idxToToken.forEach((t, i) => {
    if (i > 0 && Array.from(t).length !== 1)
      throw refuse(
        file,
        `holds the token ${JSON.stringify(t)} at index ${i}: ${reader} reads character language models (d2l's chapter 8), whose tokens after <unk> are single characters.`,
      );
  });
}

/** Parses vocab.json's text (`vocabFromTokens` of its JSON). */
export function parseVocabJson(text: string, file = 'vocab.json'): Vocab {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw refuse(file, `is not valid JSON (${(err as Error).message}).`);
  }
  return vocabFromTokens(json, file);
}
