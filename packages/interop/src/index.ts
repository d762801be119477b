export { InteropError, type NamedArray } from './errors.js';
export { readSafetensors, writeSafetensors, looksLikeSafetensors, MAX_SAFETENSORS_HEADER, type SafetensorsContents } from './safetensors.js';
export { describeWeights, type RecurrentUnit, type RecurrentWeights } from './recurrent-weights.js';
export {
  weightsFromTorch,
  weightsToTorch,
  torchStyleOf,
  defaultTorchStyle,
  SCRATCH_NAMES,
  type TorchStateDict,
  type TorchModelStyle,
} from './torch.js';
export {
  weightsOfModel,
  modelVariables,
  createModelFromWeights,
  configFor,
  implementationsFor,
  defaultImplementation,
  whyNot,
} from './rnnkit.js';
export { vocabTokens, vocabFromTokens, parseVocabJson, checkCharacterVocab } from './vocab.js';
export {
  translationFromTorch,
  translationToTorch,
  translationWeightsOfModel,
  createTranslationModel,
  isTranslationStateDict,
  translationVocabJson,
  translationVocabFromJson,
  type TranslationWeights,
} from './translation.js';
