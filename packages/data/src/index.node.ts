// The `node` entry: everything of index.ts, with Node's The Time Machine (files, environment,
// download cache) in place of the browser's, and Node's file helpers.
export * from './index.js';
export {
  fetchTimeMachineText,
  readTimeMachine,
  loadCorpusTimeMachine,
  loadDataTimeMachine,
  readTextFile,
  readTextAndIdentity,
} from './timemachine-node.js';
export { writeFileAtomic, defaultCacheDir } from './cache-node.js';
export {
  readRegularFile,
  fileIdentity,
  formatByteCount,
  describeWriteFailure,
  writeError,
  FileReadError,
  FileWriteError,
  MAX_TEXT_FILE_BYTES,
  type FileReadProblem,
  type ReadRegularFileOptions,
} from './files-node.js';
// fra-eng.zip's download and cache, and local files (Node only; the shipped head is in index.ts).
export { FRA_ENG_URL, FRA_ENG_SHA1, FRA_ENG_ENV, fetchFraEngText, readDataNmt, type FraEngSource, type FraEngText } from './fra-eng.js';
