/**
 * Resolves after the event loop has run once more, so signals (Node), UI events (browsers) and
 * worker messages get handled between training steps. A MessageChannel message is a macrotask in
 * Node and browsers alike, and unlike `setTimeout(0)` it is not clamped to 1-4 ms; `setImmediate`
 * is Node's only. Each call has its own channel, closed on delivery, so nothing keeps Node alive.
 */
export function yieldToEventLoop(): Promise<void> {
  if (typeof MessageChannel === 'undefined') return new Promise((resolve) => setTimeout(resolve, 0));
  return new Promise((resolve) => {
    const { port1, port2 } = new MessageChannel();
    port1.onmessage = () => {
      port1.close();
      resolve();
    };
    port2.postMessage(null);
  });
}
