// The ONNX entry (`@rnnkit/interop/onnx`): apart from the main one, so only its users load protobufjs.
export { weightsToOnnx, translationWeightsToOnnx, ONNX_OPSET, ONNX_IR_VERSION, ONNX_OPS, type OnnxExportOptions } from './onnx-export.js';
export { looksLikeOnnx } from './onnx-proto.js';
export { onnxToWeights, type OnnxImportOptions, type ImportedOnnx } from './onnx-import.js';
