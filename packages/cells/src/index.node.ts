// The `node` entry: everything of index.ts, with Node's worker_threads as the kernels' threads
// and RNNKIT_THREADS as their default count.
import { nodeThreadHost, threadsFromEnv } from './kernels/threads-node.js';
import { setKernelThreads, setThreadHost } from './kernels/threads.js';

setThreadHost(nodeThreadHost);
const fromEnv = threadsFromEnv();
if (fromEnv !== undefined) setKernelThreads(fromEnv);

export * from './index.js';
export { nodeThreadHost, threadsFromEnv } from './kernels/threads-node.js';
