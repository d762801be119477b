import { defineConfig } from 'tsup';
import { libraryConfig } from '../../tsup.base.ts';

// Two entries: the main one (PyTorch) and ./onnx, so that only ONNX users load protobufjs.
export default defineConfig({ ...(libraryConfig as object), entry: ['src/index.ts', 'src/onnx.ts'] });
