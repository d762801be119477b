import * as tf from '@tensorflow/tfjs-core';

/**
 * Maps PyTorch `nn.RNN/GRU/LSTM + nn.Linear` state-dict entries onto `RNNModel`'s fused
 * variables: `rnn.weight_ih_l0` (gates*H, in) -> `W_ih_l0` (in, gates*H) transposed,
 * `rnn.bias_hh_l0_reverse` -> `b_hh_l0_reverse`, `linear.weight` (V, D*H) -> `W_out` transposed,
 * `linear.bias` -> `b_out`, `embedding.weight` -> `embedding` (same layout). Gate order is PyTorch's in both, so no reordering. Works for
 * parameters and for their gradients alike.
 */
export function fromTorchNames(entries: Record<string, tf.Tensor>): Record<string, tf.Tensor> {
  const out: Record<string, tf.Tensor> = {};
  for (const [name, value] of Object.entries(entries)) {
    const m = /^rnn\.(weight|bias)_(ih|hh)(_l\d+(?:_reverse)?)$/.exec(name);
    if (m) {
      const [, kind, which, suffix] = m;
      out[`${kind === 'weight' ? 'W' : 'b'}_${which}${suffix}`] = kind === 'weight' ? tf.transpose(value) : value;
    } else if (name === 'linear.weight') out.W_out = tf.transpose(value);
    else if (name === 'linear.bias') out.b_out = value;
    else if (name === 'embedding.weight') out.embedding = value;
    else throw new Error(`Unknown PyTorch parameter ${name}: expected rnn.weight_ih_l0 ... and linear.weight / linear.bias.`);
  }
  return out;
}
