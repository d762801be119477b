// INTERIM until the libraries run in browsers unshimmed: trainEpochAsync yields with setImmediate.
const g = globalThis as unknown as { setImmediate?: (fn: () => void) => void };
if (typeof g.setImmediate !== 'function') {
  const channel = new MessageChannel();
  const queue: (() => void)[] = [];
  channel.port1.onmessage = () => queue.shift()?.();
  g.setImmediate = (fn) => {
    queue.push(fn);
    channel.port2.postMessage(null);
  };
}
export {};
