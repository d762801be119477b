import { createLanguageModel, type LanguageModelConfig, type LanguageModelImplementation } from '@rnnkit/models';
import { UsageError } from './errors.js';

export type { LanguageModelConfig, LanguageModelImplementation };

/** `createLanguageModel` of @rnnkit/models, with the CLI's errors: they name the flags to change. */
export function createModelFromFlags(config: LanguageModelConfig) {
  const { implementation, numLayers, bidirectional } = config;
  if (implementation === 'scratch' && (numLayers !== 1 || bidirectional)) {
    throw new UsageError('--impl scratch has one unidirectional layer: use --impl fused for --layers or --bidirectional.');
  }
  if (implementation === 'layers' && bidirectional) throw new UsageError('--impl layers is unidirectional here: use --impl fused with --bidirectional.');
  return createLanguageModel(config);
}
