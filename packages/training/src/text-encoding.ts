import { D2L_TEXT_ENCODING, textEncoding, type Preprocessing, type TextEncoding } from '@rnnkit/data';
import type { LanguageModelConfig } from '@rnnkit/models';

/**
 * How a checkpoint's language model reads text (what `predict`'s `text` option takes): its
 * config's `text`. A checkpoint that records none was trained with characters and lines joined
 * with nothing, under d2l's preprocessing or the one `rnnkit train` wrote in its training record
 * (`training.preprocess`), which is what generation used for it before.
 */
export function textEncodingOf(checkpoint: { config: LanguageModelConfig; training?: unknown }): TextEncoding {
  if (checkpoint.config.text) return checkpoint.config.text;
  const preprocess = (checkpoint.training as { training?: { preprocess?: unknown } } | undefined)?.training?.preprocess;
  if (preprocess === undefined) return D2L_TEXT_ENCODING;
  return textEncoding({ preprocess: preprocess as Preprocessing, tokens: 'char', lineBreak: '' });
}
