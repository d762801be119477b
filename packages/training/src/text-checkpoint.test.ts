// A language model's text encoding travels in its checkpoint (config.text): word models save
// and load, and checkpoints from before it was recorded read their prefixes as they used to.
import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { D2L_TEXT_ENCODING, corpusFromText, textEncoding } from '@rnnkit/data';
import { createLanguageModel, type LanguageModelConfig } from '@rnnkit/models';
import { useBackend } from '../../../test/backends.js';
import { loadLanguageModel, predict, saveLanguageModel, textEncodingOf } from './index.js';

const TEXT = 'This License applies to any program.\nThe Program, below, refers to any such program.\n'.repeat(5);

/** Saves to memory and gives a handler that loads it back. */
async function roundTrip(checkpoint: Parameters<typeof saveLanguageModel>[1]): Promise<tf.io.IOHandler> {
  let saved: tf.io.ModelArtifacts | undefined;
  await saveLanguageModel(
    tf.io.withSaveHandler(async (a) => {
      saved = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
    checkpoint,
  );
  return tf.io.fromMemory(saved as tf.io.ModelArtifacts);
}

describe('the text encoding in a checkpoint', () => {
  beforeAll(() => useBackend('cpu'));

  it('a word model (raw words, min-freq 2) saves, loads and continues a prefix alike', async () => {
    const text = textEncoding({ preprocess: 'raw', tokens: 'word' });
    const { vocab } = corpusFromText(TEXT, { ...text, minFreq: 2 });
    const config: LanguageModelConfig = {
      cell: 'gru',
      implementation: 'fused',
      numHiddens: 8,
      numLayers: 1,
      bidirectional: false,
      vocabSize: vocab.size,
      seed: 1,
      text,
    };
    const model = createLanguageModel(config);
    const loaded = await loadLanguageModel(await roundTrip({ model, vocab, config }));
    expect(loaded.config.text).toEqual(text);
    expect(textEncodingOf(loaded)).toEqual(text);
    const before = predict(model, vocab, 'This License\nThe', 12, { text });
    expect(predict(loaded.model, loaded.vocab, 'This License\nThe', 12, { text: textEncodingOf(loaded) })).toEqual(before);
    // A character model's vocabulary may not hold words: the same vocabulary without config.text is refused.
    const { text: _, ...charConfig } = config;
    await expect(roundTrip({ model, vocab, config: charConfig })).rejects.toThrow(/a character model's tokens are single characters/);
    model.dispose();
    loaded.model.dispose();
  });

  it('a checkpoint without config.text reads text as before: characters, lines joined with nothing, its --preprocess', () => {
    const config = { cell: 'gru', implementation: 'fused', numHiddens: 8, numLayers: 1, bidirectional: false, vocabSize: 5, seed: 0 } as const;
    expect(textEncodingOf({ config })).toEqual(D2L_TEXT_ENCODING);
    expect(textEncodingOf({ config, training: { training: { preprocess: 'raw' } } })).toEqual({ preprocess: 'raw', tokens: 'char', lineBreak: '' });
    expect(() => createLanguageModel({ ...config, text: { preprocess: 'raw', tokens: 'byte', lineBreak: '\n' } as never })).toThrow(
      /config.text: Unknown token kind "byte"/,
    );
  });
});
