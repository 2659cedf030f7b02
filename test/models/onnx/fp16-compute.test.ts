/**
 * The float16-compute rewrite of the shipped graphs: onnxruntime accepts every rewritten graph (a type that
 * does not line up fails session creation), and it computes the same function within float16 rounding.
 */
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createRng } from '../../../models/diffusion/rng.ts';
import { parseManifest } from '../../../models/bundle/manifest.ts';
import { GRAPHS } from '../../../models/bundle/graphs.ts';
import { halfPrecisionModel } from '../../../models/onnx/fp16-compute.ts';
import { HALF_PRECISION_MAX_DIFF, halfPrecisionImageDiff } from '../../../models/pipeline/precision-check.ts';
import { openBundle } from '../../../node/bundle.ts';
import { ROOT } from '../../support/cli.ts';

const { onnx } = onnxProto;
const relL2 = (a: Float32Array, b: Float32Array) =>
  Math.sqrt(a.reduce((s, v, i) => s + (v - b[i]) ** 2, 0) / a.reduce((s, v) => s + v * v, 0));

describe('halfPrecisionModel', () => {
  for (const name of ['emoji', 'shapes'])
    it(`rewrites the ${name} U-Net to float16 arithmetic that matches float32 (relative L2 < 5e-3)`, async () => {
      const dir = join(ROOT, 'models/bundles', name);
      const m = parseManifest(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')));
      const bytes = readFileSync(join(dir, GRAPHS.unet.file));
      const half = halfPrecisionModel(bytes);

      // What the rewrite did: no weight is cast up any more, the weights are float16, the timestep's sinusoid
      // stays float32, and the edges are float32.
      const g = onnx.ModelProto.decode(half).graph!;
      const fp16 = onnx.TensorProto.DataType.FLOAT16;
      const weights = g.initializer!.filter((t) => t.dims!.length >= 2);
      // All but the timestep embedding's frequencies (an input of the float32 sinusoid).
      expect(weights.filter((t) => t.dataType !== fp16).map((t) => t.dims!.map(Number))).toEqual([[1, expect.any(Number)]]);
      const castTo = (to: number) => g.node!.filter((n) => n.opType === 'Cast' && Number(n.attribute![0].i) === to).length;
      expect(castTo(onnx.TensorProto.DataType.FLOAT)).toBeLessThan(5);
      expect(castTo(fp16)).toBeGreaterThan(0);
      expect(g.input!.concat(g.output!).every((v) => v.type!.tensorType!.elemType === onnx.TensorProto.DataType.FLOAT)).toBe(true);

      const rng = createRng(1);
      const { channels, size } = m.latent;
      const [T, D] = [m.tokenizer.maxLength, m.networks.textEncoder.width];
      const feeds = {
        [GRAPHS.unet.inputs.sample]: new ort.Tensor('float32', rng.fill(2 * channels * size * size), [2, channels, size, size]),
        [GRAPHS.unet.inputs.timestep]: new ort.Tensor('float32', Float32Array.of(999, 421), [2]),
        [GRAPHS.unet.inputs.context]: new ort.Tensor('float32', rng.fill(2 * T * D), [2, T, D]),
      };
      const run = async (model: Uint8Array) =>
        (await (await ort.InferenceSession.create(model)).run(feeds))[GRAPHS.unet.outputs.out].data as Float32Array;
      const [full, reduced] = [await run(bytes), await run(half)];
      // Measured on onnxruntime-node (which runs float16 nodes without a kernel through float32): emoji 5.9e-4, shapes 1.2e-4.
      expect(relL2(reduced, full)).toBeLessThan(5e-3);
      expect(relL2(reduced, full)).toBeGreaterThan(0);
    });

  it('the device check passes the float16 U-Net and fails a wrong one', async () => {
    const dir = join(ROOT, 'models/bundles/emoji');
    const full = await openBundle(dir);
    const half = await openBundle(dir, { halfPrecisionUnet: true, residentLoop: true });
    const [a, b] = [await full.runtime(), await half.runtime()];
    const diff = await halfPrecisionImageDiff(a, b, full.manifest);
    // Measured: 0.65 (of 255) with onnxruntime-node's float16; a U-Net 3 % off: 15.
    expect(diff).toBeGreaterThan(0);
    expect(diff).toBeLessThanOrEqual(HALF_PRECISION_MAX_DIFF);
    // A U-Net 3 % off (what a float16 kernel that loses a term would do) and one that overflows both fail.
    for (const wrong of [(v: number) => v * 1.03, () => Number.NaN]) {
      const broken = {
        ...b,
        resident: undefined,
        unet: async (i: Parameters<typeof b.unet>[0]) => {
          const out = await b.unet(i);
          return { data: out.data.map(wrong), dims: out.dims };
        },
      };
      expect(await halfPrecisionImageDiff(a, broken, full.manifest)).toBeGreaterThan(HALF_PRECISION_MAX_DIFF);
    }
  });
});
