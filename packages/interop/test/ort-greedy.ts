// Test-only (Node): d2l's predict_ch8 on an exported ONNX file in onnxruntime-node, for the CLI's
// and the page's tests. The prefix is fed token by token, then each argmax is fed back.
import * as ort from 'onnxruntime-node';

export async function greedyInOnnxRuntime(model: string | Uint8Array, vocab: readonly string[], prefix: string, n: number): Promise<string> {
  const session = typeof model === 'string' ? await ort.InferenceSession.create(model) : await ort.InferenceSession.create(model);
  try {
    const meta = session.inputMetadata.find((m) => m.name === 'h0') as { shape?: (number | string)[] } | undefined;
    const stateShape = (meta?.shape ?? []).map((d) => (typeof d === 'number' ? d : 1));
    const zeros = () => new ort.Tensor('float32', new Float32Array(stateShape.reduce((a, b) => a * b, 1)), stateShape);
    let state: Record<string, ort.Tensor> = { h0: zeros(), ...(session.inputNames.includes('c0') ? { c0: zeros() } : {}) };
    let logits: Float32Array = new Float32Array();
    const step = async (id: number) => {
      const out = await session.run({ tokens: new ort.Tensor('int64', BigInt64Array.of(BigInt(id)), [1, 1]), ...state });
      logits = out.logits!.data as Float32Array;
      state = { h0: out.hn!, ...(out.cn ? { c0: out.cn } : {}) };
    };
    const outputs = Array.from(prefix, (ch) => Math.max(0, vocab.indexOf(ch)));
    for (const id of outputs) await step(id);
    for (let i = 0; i < n; i++) {
      let best = 0;
      for (let v = 1; v < logits.length; v++) if (logits[v]! > logits[best]!) best = v;
      outputs.push(best);
      await step(best);
    }
    return outputs.map((i) => vocab[i]).join('');
  } finally {
    await session.release();
  }
}
