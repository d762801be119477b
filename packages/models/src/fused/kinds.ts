import type { KernelCalls } from '@rnnkit/cells';
import { GATES, type CellKind } from '../cell-kinds.js';

/**
 * The recurrences behind the cell kinds: one per kind, and d2l's reset-before GRU beside
 * PyTorch's (`resetAfter: false`).
 */
export type Recurrence = CellKind | 'gru-reset-before';

/** The recurrence a layer of `cell` runs. */
export function recurrenceOf(cell: CellKind, resetAfter: boolean): Recurrence {
  return cell === 'gru' && !resetAfter ? 'gru-reset-before' : cell;
}

/**
 * One forward step of the JS loops, for B rows: subarrays of the pass's buffers. Gates are in
 * PyTorch's order, each a block of H columns of a (B, G*H) row.
 */
export interface JsForwardStep {
  B: number;
  H: number;
  /** (B, G*H): this step's input projection, b_ih included. */
  x: Float32Array;
  /** (B, recurrentGates*H): h_{t-1} times W_hh's first recurrentGates blocks. */
  gh: Float32Array;
  /** b_hh (G*H). */
  b: Float32Array;
  hPrev: Float32Array;
  hNext: Float32Array;
  /** The LSTM's cell state c_{t-1} and c_t (B, H); empty for one-state kinds. */
  cPrev: Float32Array;
  cNext: Float32Array;
  /** (B, G*H): the gate activations, for the backward pass. */
  acts: Float32Array;
  /** (B, H) where `saved` is true: what else the backward pass needs. */
  saved: Float32Array;
  /** rows (B, H) times W_hh's blocks after the first recurrentGates (d2l's GRU: r h W_n). */
  restProduct(rows: Float32Array): Float32Array;
}

/** One backward step of the JS loops, from dh_t (and the LSTM's running dc). */
export interface JsBackwardStep {
  B: number;
  H: number;
  acts: Float32Array;
  saved: Float32Array;
  hPrev: Float32Array;
  /** h_t, this step's output. */
  hOut: Float32Array;
  cPrev: Float32Array;
  dh: Float32Array;
  /** The LSTM's running dc: dc_t in, dc_{t-1} out. */
  dc: Float32Array;
  /** Out (B, G*H): the pre-activation gradient as the input projection sees it. */
  dx: Float32Array;
  /** Out (B, G*H): as the recurrent product sees it (d2l's GRU: its last block is d(r h W_n)). */
  dg: Float32Array;
  /** Out (B, H), zeroed: the part of dh_{t-1} that does not pass through dg's first blocks' W_hh. */
  dhPrev: Float32Array;
  /** rows (B, H) times W_hh's rest blocks transposed. */
  restProductT(rows: Float32Array): Float32Array;
}

/**
 * A forward step on rnnkit's kernels: byte offsets into the kernels' memory, as `JsForwardStep` (gh
 * is h_{t-1} times W_hh's first recurrentGates blocks).
 */
export interface KernelForwardStep {
  B: number;
  H: number;
  x: number;
  gh: number;
  /** b_ih (zeros when none) and b_hh, apart: the kernels add both. */
  bx: number;
  bh: number;
  hPrev: number;
  hNext: number;
  cPrev: number;
  cNext: number;
  acts: number;
  saved: number;
  /** W_hh's blocks after the first recurrentGates, in gemm's panels, and a (B, H) scratch for their product. */
  restPanels: number;
  restOut: number;
}

/** A backward step on the kernels, as `JsBackwardStep`; the bias gradients are summed by the caller after the pass. */
export interface KernelBackwardStep {
  B: number;
  H: number;
  acts: number;
  saved: number;
  hPrev: number;
  hOut: number;
  cPrev: number;
  dh: number;
  dc: number;
  dx: number;
  /** dx's own buffer unless `ownRecurrentGrad`. */
  dg: number;
  dhPrev: number;
  /**
   * Where the step leaves dG's first recurrentGates blocks as (B, recurrentGates*H) rows for the
   * product dG W_hh^T: dg itself when every block is recurrent.
   */
  dgh: number;
  /** W_hh's rest blocks transposed, in gemm's panels, and two (B, H) scratch buffers. */
  restPanelsT: number;
  scratch: number;
  scratch2: number;
}

/**
 * Everything the fused op knows about one recurrence. The JS loops are the reference and the
 * fallback; `kernels` (rnnkit's kernels, `@rnnkit/cells`' assembly/gates.ts) run where the
 * kernels load and H is a multiple of 4.
 */
export interface RecurrenceSpec {
  /** Gate blocks of H columns in W_ih, W_hh and the biases. */
  gates: number;
  /** Recurrent states: 1 (h) or 2 (h and the LSTM's c). */
  states: 1 | 2;
  /**
   * Gate blocks whose pre-activation takes h_{t-1} W_hh, formed before the step (all but d2l's
   * GRU, whose candidate multiplies r h by the last block inside the step: `restProduct`, and
   * whose `saved` is then that product's input, r h).
   */
  recurrentGates: number;
  /** Whether the step keeps a (B, H) buffer, `saved`, for the backward pass. */
  saved: boolean;
  js: {
    forward(s: JsForwardStep): void;
    backward(s: JsBackwardStep): void;
  };
  kernels: {
    forward(fn: KernelCalls, s: KernelForwardStep): void;
    backward(fn: KernelCalls, s: KernelBackwardStep): void;
    /** Whether the backward step writes dg apart from dx (else they are the same, and so are db_hh and db_ih). */
    ownRecurrentGrad: boolean;
    /** Whether it writes a direct part of dh_{t-1} (the GRUs' z dh) to dhPrev. */
    directPath: boolean;
  } | null;
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
// 1 - 2 / (e^2x + 1): a third faster than V8's Math.tanh, within 1e-16 of it.
const tanh = (x: number): number => 1 - 2 / (Math.exp(2 * x) + 1);

/** d2l `rnn`: h' = tanh(x W_xh + h W_hh + b). */
const rnn: RecurrenceSpec = {
  gates: GATES.rnn,
  states: 1,
  recurrentGates: 1,
  saved: false,
  js: {
    forward({ x, gh, b, hNext, acts, B, H }) {
      for (let i = 0; i < B * H; i++) {
        const v = tanh(x[i]! + gh[i]! + b[i % H]!);
        acts[i] = v;
        hNext[i] = v;
      }
    },
    backward({ acts, dh, dx, dg, B, H }) {
      for (let i = 0; i < B * H; i++) {
        const v = acts[i]!;
        const d = dh[i]! * (1 - v * v);
        dx[i] = d;
        dg[i] = d;
      }
    },
  },
  kernels: {
    forward: (fn, s) => fn.rnnForward(s.x, s.gh, s.bx, s.bh, s.hNext, s.B, s.H),
    backward: (fn, s) => fn.rnnBackward(s.hOut, s.dh, s.dx, s.B, s.H),
    ownRecurrentGrad: false,
    directPath: false,
  },
};

/** PyTorch's `nn.GRU`, gates [r, z, n]: n = tanh(x_n + r (h W_n + b_n)), h' = (1 - z) n + z h. */
const gru: RecurrenceSpec = {
  gates: GATES.gru,
  states: 1,
  recurrentGates: 3,
  saved: true, // h W_n + b_n
  js: {
    forward({ x, gh, b, hPrev, hNext, acts, saved, B, H }) {
      for (let bi = 0; bi < B; bi++) {
        const o = bi * 3 * H;
        const k = bi * H;
        for (let j = 0; j < H; j++) {
          const r = sigmoid(x[o + j]! + gh[o + j]! + b[j]!);
          const z = sigmoid(x[o + H + j]! + gh[o + H + j]! + b[H + j]!);
          const ghn = gh[o + 2 * H + j]! + b[2 * H + j]!;
          const n = tanh(x[o + 2 * H + j]! + r * ghn);
          acts[o + j] = r;
          acts[o + H + j] = z;
          acts[o + 2 * H + j] = n;
          saved[k + j] = ghn;
          hNext[k + j] = (1 - z) * n + z * hPrev[k + j]!;
        }
      }
    },
    backward({ acts, saved, hPrev, dh, dx, dg, dhPrev, B, H }) {
      for (let bi = 0; bi < B; bi++) {
        const o = bi * 3 * H;
        const k = bi * H;
        for (let j = 0; j < H; j++) {
          const r = acts[o + j]!;
          const z = acts[o + H + j]!;
          const n = acts[o + 2 * H + j]!;
          const d = dh[k + j]!;
          dhPrev[k + j] = d * z;
          const dzp = d * (hPrev[k + j]! - n) * z * (1 - z);
          const dnp = d * (1 - z) * (1 - n * n);
          const drp = dnp * saved[k + j]! * r * (1 - r);
          dx[o + j] = drp;
          dx[o + H + j] = dzp;
          dx[o + 2 * H + j] = dnp;
          dg[o + j] = drp;
          dg[o + H + j] = dzp;
          dg[o + 2 * H + j] = dnp * r;
        }
      }
    },
  },
  kernels: {
    forward: (fn, s) => fn.gruForward(s.x, s.gh, s.bx, s.bh, s.hPrev, s.hNext, s.acts, s.saved, s.B, s.H),
    backward: (fn, s) => fn.gruBackward(s.acts, s.saved, s.hPrev, s.dh, s.dx, s.dg, s.dhPrev, s.B, s.H),
    ownRecurrentGrad: true,
    directPath: true,
  },
};

/** d2l's `gru`: the reset gate multiplies h before the candidate's own product, n = tanh(x_n + (r h) W_n + b_n). */
const gruResetBefore: RecurrenceSpec = {
  gates: GATES.gru,
  states: 1,
  recurrentGates: 2,
  saved: true, // r h
  js: {
    forward({ x, gh, b, hPrev, hNext, acts, saved, restProduct, B, H }) {
      for (let bi = 0; bi < B; bi++) {
        const o = bi * 3 * H;
        const go = bi * 2 * H;
        const k = bi * H;
        for (let j = 0; j < H; j++) {
          const r = sigmoid(x[o + j]! + gh[go + j]! + b[j]!);
          acts[o + j] = r;
          acts[o + H + j] = sigmoid(x[o + H + j]! + gh[go + H + j]! + b[H + j]!);
          saved[k + j] = r * hPrev[k + j]!;
        }
      }
      const nPre = restProduct(saved);
      for (let bi = 0; bi < B; bi++) {
        const o = bi * 3 * H;
        for (let j = 0; j < H; j++) {
          const k = bi * H + j;
          const z = acts[o + H + j]!;
          const n = tanh(x[o + 2 * H + j]! + nPre[k]! + b[2 * H + j]!);
          acts[o + 2 * H + j] = n;
          hNext[k] = (1 - z) * n + z * hPrev[k]!;
        }
      }
    },
    backward({ acts, hPrev, dh, dx, dg, dhPrev, restProductT, B, H }) {
      const dnPre = new Float32Array(B * H);
      for (let bi = 0; bi < B; bi++) {
        const o = bi * 3 * H;
        for (let j = 0; j < H; j++) {
          const k = bi * H + j;
          const z = acts[o + H + j]!;
          const n = acts[o + 2 * H + j]!;
          const d = dh[k]!;
          dhPrev[k] = d * z;
          const dzp = d * (hPrev[k]! - n) * z * (1 - z);
          dnPre[k] = d * (1 - z) * (1 - n * n);
          dx[o + H + j] = dzp;
          dg[o + H + j] = dzp;
          dx[o + 2 * H + j] = dnPre[k]!;
          dg[o + 2 * H + j] = dnPre[k]!;
        }
      }
      const drh = restProductT(dnPre);
      for (let bi = 0; bi < B; bi++) {
        const o = bi * 3 * H;
        for (let j = 0; j < H; j++) {
          const k = bi * H + j;
          const r = acts[o + j]!;
          dhPrev[k] = dhPrev[k]! + drh[k]! * r;
          const drp = drh[k]! * hPrev[k]! * r * (1 - r);
          dx[o + j] = drp;
          dg[o + j] = drp;
        }
      }
    },
  },
  kernels: {
    forward(fn, s) {
      fn.gruResetBeforeGates(s.x, s.gh, s.bx, s.bh, s.hPrev, s.acts, s.saved, s.B, s.H);
      fn.gemm(s.restOut, s.saved, s.restPanels, s.B, s.H, s.H); // (r h) W_n
      fn.gruResetBeforeCandidate(s.x, s.restOut, s.bx, s.bh, s.hPrev, s.hNext, s.acts, s.B, s.H);
    },
    backward(fn, s) {
      fn.gruResetBeforeBackwardCandidate(s.acts, s.hPrev, s.dh, s.dx, s.scratch, s.dhPrev, s.B, s.H);
      fn.gemm(s.scratch2, s.scratch, s.restPanelsT, s.B, s.H, s.H); // d(r h) = dn W_n^T
      fn.gruResetBeforeBackwardGates(s.acts, s.hPrev, s.scratch2, s.dx, s.dgh, s.dhPrev, s.B, s.H);
    },
    ownRecurrentGrad: false,
    directPath: true,
  },
};

/** d2l `lstm`, gates [i, f, g, o]: c' = f c + i g, h' = o tanh(c'). */
const lstm: RecurrenceSpec = {
  gates: GATES.lstm,
  states: 2,
  recurrentGates: 4,
  saved: true, // tanh(c')
  js: {
    forward({ x, gh, b, cPrev, cNext, hNext, acts, saved, B, H }) {
      const pre = (o: number, j: number) => x[o + j]! + gh[o + j]! + b[j]!;
      for (let bi = 0; bi < B; bi++) {
        const o = bi * 4 * H;
        for (let j = 0; j < H; j++) {
          const k = bi * H + j;
          const ig = sigmoid(pre(o, j));
          const fg = sigmoid(pre(o, H + j));
          const gg = tanh(pre(o, 2 * H + j));
          const og = sigmoid(pre(o, 3 * H + j));
          const c = fg * cPrev[k]! + ig * gg;
          const tc = tanh(c);
          acts[o + j] = ig;
          acts[o + H + j] = fg;
          acts[o + 2 * H + j] = gg;
          acts[o + 3 * H + j] = og;
          cNext[k] = c;
          saved[k] = tc;
          hNext[k] = og * tc;
        }
      }
    },
    backward({ acts, saved, cPrev, dh, dc, dx, dg, B, H }) {
      for (let bi = 0; bi < B; bi++) {
        const o = bi * 4 * H;
        for (let j = 0; j < H; j++) {
          const k = bi * H + j;
          const ig = acts[o + j]!;
          const fg = acts[o + H + j]!;
          const gg = acts[o + 2 * H + j]!;
          const og = acts[o + 3 * H + j]!;
          const tc = saved[k]!;
          const d = dh[k]!;
          const dcv = dc[k]! + d * og * (1 - tc * tc);
          dx[o + j] = dcv * gg * ig * (1 - ig);
          dx[o + H + j] = dcv * cPrev[k]! * fg * (1 - fg);
          dx[o + 2 * H + j] = dcv * ig * (1 - gg * gg);
          dx[o + 3 * H + j] = d * tc * og * (1 - og);
          dc[k] = dcv * fg;
        }
      }
      dg.set(dx);
    },
  },
  kernels: {
    forward: (fn, s) => fn.lstmForward(s.x, s.gh, s.bx, s.bh, s.cPrev, s.cNext, s.hNext, s.acts, s.saved, s.B, s.H),
    backward: (fn, s) => fn.lstmBackward(s.acts, s.saved, s.cPrev, s.dh, s.dc, s.dx, s.B, s.H),
    ownRecurrentGrad: false,
    directPath: false,
  },
};

/**
 * The records, one per recurrence: a cell kind of `cell-kinds.ts` (or variant) without one does
 * not compile. A record's forward/backward kernel pair is in `@rnnkit/cells`' assembly/gates.ts
 * (or `kernels: null` runs the JS loops).
 */
export const RECURRENCES = {
  rnn,
  gru,
  'gru-reset-before': gruResetBefore,
  lstm,
} as const satisfies Record<Recurrence, RecurrenceSpec>;
