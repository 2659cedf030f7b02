import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { growEmbedding } from '../../../models/onnx/grow-embedding.ts';
import { loadTokenizer } from '../../../models/text/tokenizer.ts';
import { textBundle } from '../../support/edge.ts';

describe('growEmbedding', () => {
  it('adds zero rows: existing ids give the same outputs, new ids run, other tables are refused', async () => {
    const b = await textBundle('grow');
    const tok = loadTokenizer(JSON.parse(b.tokenizerJson), b.maxLength);
    const grown = growEmbedding(b.textEncoderOnnx, 'token_embedding.weight', 3);
    const run = async (model: Uint8Array, ids: number[]) => {
      const s = await ort.InferenceSession.create(model);
      const out = await s.run({ input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, b.maxLength]) });
      return out.last_hidden_state.data as Float32Array;
    };
    const ids = Array.from(tok.encode('a small red circle'));
    expect(Array.from(await run(grown, ids))).toEqual(Array.from(await run(b.textEncoderOnnx, ids)));
    const fresh = ids.map((id, i) => (i === 2 ? tok.vocabSize + 2 : id));
    expect((await run(grown, fresh)).every(Number.isFinite)).toBe(true);
    expect(() => growEmbedding(b.textEncoderOnnx, 'no_such_table', 1)).toThrow(/no 2-D raw initializer named no_such_table/);
  });
});
