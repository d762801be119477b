// The layouts written before checksums existed (no `layout` in the metadata). Nothing in them can
// be verified, so they load only when the caller allows it; `migrateCheckpoint` writes a verified copy.
import type { LegacyContents } from './format.js';

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/**
 * The CLI's first language-model layout (layout 1): config { model, impl, hidden, layers,
 * bidirectional, vocabSize, seed }, `vocab` beside it, and the training state at the top level.
 */
export function upgradeLanguageModelLegacy(meta: Record<string, unknown>): LegacyContents | undefined {
  const { kind, config, vocab, ...training } = meta;
  if ((kind !== undefined && kind !== 'language-model') || !isObject(config) || !('model' in config || 'impl' in config)) return undefined;
  return {
    config: {
      cell: config.model,
      implementation: config.impl,
      numHiddens: config.hidden,
      numLayers: config.layers,
      bidirectional: config.bidirectional,
      vocabSize: config.vocabSize,
      seed: config.seed,
    },
    vocabularies: { vocab },
    training: Object.keys(training).length ? training : undefined,
  };
}

/**
 * `rnnkit translate`'s first layout: { kind: 'translation', rnnkit, model (the
 * `EncoderDecoderOptions`), numSteps, numExamples, srcVocab, tgtVocab, epoch }.
 */
export function upgradeTranslationLegacy(meta: Record<string, unknown>): LegacyContents | undefined {
  const { kind, model, srcVocab, tgtVocab, ...training } = meta;
  if (kind !== 'translation' || !isObject(model)) return undefined;
  return { config: model, vocabularies: { sourceVocab: srcVocab, targetVocab: tgtVocab }, training };
}
