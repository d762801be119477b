// The `node` entry: everything of index.ts, with Node's The Time Machine (files, environment,
// download cache) in place of the browser's, and Node's file helpers.
export * from './index.js';
export {
  fetchTimeMachineText,
  readTimeMachine,
  loadCorpusTimeMachine,
  loadDataTimeMachine,
  readTextFile,
  writeFileAtomic,
  defaultCacheDir,
} from './timemachine-node.js';
