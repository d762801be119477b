import { timeMachineLoaders } from './timemachine-loaders.js';
import {
  TIME_MACHINE_SHA1,
  TIME_MACHINE_URL,
  downloadChecked,
  shippedTimeMachine,
  wantsDownload,
  type TimeMachineSource,
  type TimeMachineText,
} from './timemachine.js';

// Browsers' (and other non-Node runtimes') The Time Machine: the shipped copy, or a URL checked
// with Web Crypto. Files, the environment and the cache are Node's (timemachine-node.ts).

const HOW_TO = 'In a browser, pass { url } of a copy (same SHA-1) or no source for the copy shipped with @rnnkit/data.';

/**
 * The raw text of The Time Machine: downloaded from `url` (or d2l's address with
 * `download: true`) and checked against its SHA-1, else the copy shipped with the package.
 * d2l `download`.
 */
export async function fetchTimeMachineText(source: TimeMachineSource = {}): Promise<TimeMachineText> {
  if (source.path !== undefined) {
    throw new Error(`Reading the file ${source.path} needs Node. ${HOW_TO}`);
  }
  if (wantsDownload(source)) {
    const url = source.url ?? TIME_MACHINE_URL;
    const body = await downloadChecked(url, source.sha1 ?? TIME_MACHINE_SHA1, source.timeoutMs ?? 60_000, HOW_TO, 'The Time Machine');
    return { text: new TextDecoder().decode(body), origin: 'download', file: url };
  }
  if (source.shipped === false) {
    throw new Error(`The shipped copy of The Time Machine is off and no download was asked for. ${HOW_TO}`);
  }
  return shippedTimeMachine();
}

// d2l `read_time_machine`, `load_corpus_time_machine` and `load_data_time_machine` over this platform's text.
export const { readTimeMachine, loadCorpusTimeMachine, loadDataTimeMachine } = timeMachineLoaders(fetchTimeMachineText);
