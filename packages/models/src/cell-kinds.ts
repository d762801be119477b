// The one list of cell kinds. Everything that names the kinds derives from it: the kinds'
// records (`RECURRENCES`), the CLI's --model choices, the web page's cell menu and the messages
// that list them. It imports nothing, so a page can load it alone (`@rnnkit/models/cell-kinds`).

/**
 * The cell kinds and their gates per step, in PyTorch's order: GRU [r, z, n], LSTM [i, f, g, o].
 * To add a kind, add it here; the compiler then asks for each table keyed by kind: its record in
 * `fused/kinds.ts` (with its kernel pair, or `kernels: null`), its tf.layers cell in
 * `layers-core.ts`, its from-scratch cell in `language-model.ts`, and `@rnnkit/interop`'s
 * layouts of it (PyTorch's scratch names, tf.layers' and ONNX's gate orders).
 */
export const GATES = { rnn: 1, gru: 3, lstm: 4 } as const satisfies Record<string, number>;

/** A cell kind: `'rnn' | 'gru' | 'lstm'`, the `cell` of every options object and config. */
export type CellKind = keyof typeof GATES;

/** The cell kinds, in the order menus list them. */
export const CELL_KINDS: readonly CellKind[] = Object.freeze(Object.keys(GATES) as CellKind[]);

/** Whether `cell` names a cell kind (user input is checked against it). */
export function isCellKind(cell: unknown): cell is CellKind {
  return typeof cell === 'string' && Object.hasOwn(GATES, cell);
}

/** The kinds for a message: `rnn, gru or lstm`, each between `quote`s when given (`"rnn", "gru" or "lstm"`). */
export function cellKindsInWords(quote = ''): string {
  const words = CELL_KINDS.map((kind) => `${quote}${kind}${quote}`);
  return words.length > 1 ? `${words.slice(0, -1).join(', ')} or ${words.at(-1)}` : (words[0] ?? '');
}
