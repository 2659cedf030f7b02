import * as tf from '@tensorflow/tfjs-core';
import * as ortNode from 'onnxruntime-node';
import * as ortWeb from 'onnxruntime-web';
import { beforeAll, describe, expect, it } from 'vitest';
import type { WeightMap } from '../../../models/nn/weights.ts';
import { initTrainingBackend } from '../../../trainer/tfjs/backend.ts';
import { ParamStore } from '../../../trainer/tfjs/params.ts';
import { ortFeeds, relativeMaxError, type OrtLike } from '../../support/ort.ts';
import { networkCases, nhwcToNchw, randomizeWeights, toTensors } from '../../support/tiny-networks.ts';

// fp32: the same arithmetic in another order, so rounding only (measured ~1e-6). fp16 weights carry a
// relative rounding error of 2^-11 ≈ 4.9e-4 each; through these depths the output moves by well under 1 %.
const FP32_TOLERANCE = 1e-4;
const FP16_TOLERANCE = 1e-2;

const runtimes: [string, OrtLike][] = [
  ['onnxruntime-node', ortNode as unknown as OrtLike],
  ['onnxruntime-web (wasm, in Node)', ortWeb as unknown as OrtLike],
];

describe('tfjs and the exported ONNX graphs agree', () => {
  beforeAll(async () => {
    ortWeb.env.wasm.numThreads = 1;
    await initTrainingBackend('wasm');
  });

  for (const c of networkCases(2)) {
    describe(c.name, () => {
      let weights: WeightMap;
      let expected: Record<string, { data: Float32Array; dims: number[] }>;
      beforeAll(() => {
        const store = new ParamStore(c.name, 1);
        c.forward(store, toTensors(c.inputs));
        weights = randomizeWeights(store, 7);
        expected = {};
        for (const [name, t] of Object.entries(c.forward(store, toTensors(c.inputs)))) {
          const data = t.dataSync() as Float32Array;
          // Exported images are NCHW; compare in that layout.
          expected[name] =
            t.rank === 4
              ? { data: nhwcToNchw(data, t.shape), dims: [t.shape[0], t.shape[3], t.shape[1], t.shape[2]] as number[] }
              : { data, dims: t.shape };
        }
        store.dispose();
        tf.disposeVariables();
      });

      for (const [runtime, ort] of runtimes) {
        for (const fp16 of [false, true]) {
          it(`${runtime}, ${fp16 ? 'fp16' : 'fp32'} weights`, async () => {
            const session = await ort.InferenceSession.create(c.exportOnnx(weights, { fp16Weights: fp16 }));
            const out = await session.run(ortFeeds(ort, c.inputs));
            for (const [name, want] of Object.entries(expected)) {
              expect(out[name].dims).toEqual(want.dims);
              const err = relativeMaxError(out[name].data as Float32Array, want.data);
              expect(err).toBeLessThan(fp16 ? FP16_TOLERANCE : FP32_TOLERANCE);
              // The fp16 variant must really differ (its weights were rounded), or the test compares nothing.
              if (fp16) expect(err).toBeGreaterThan(0);
            }
          });
        }
      }
    });
  }

  it('fp16 weights halve the file size', () => {
    const c = networkCases(1).find((x) => x.name === 'unet')!;
    const store = new ParamStore('size', 1);
    c.forward(store, toTensors(c.inputs));
    const w = store.export();
    const ratio = c.exportOnnx(w, { fp16Weights: true }).length / c.exportOnnx(w).length;
    expect(ratio).toBeGreaterThan(0.45);
    expect(ratio).toBeLessThan(0.55);
    store.dispose();
  });

  it('dynamic batch: the same graph runs batch 1 and batch 3', async () => {
    const store = new ParamStore('batch', 1);
    const [c1] = networkCases(1).filter((x) => x.name === 'unet');
    c1.forward(store, toTensors(c1.inputs));
    const bytes = c1.exportOnnx(randomizeWeights(store, 3));
    const session = await ortNode.InferenceSession.create(bytes);
    for (const batch of [1, 3]) {
      const [c] = networkCases(batch).filter((x) => x.name === 'unet');
      const out = await session.run(ortFeeds(ortNode as unknown as OrtLike, c.inputs) as Record<string, ortNode.Tensor>);
      expect(out.out_sample.dims).toEqual([batch, 4, 8, 8]);
    }
    store.dispose();
  });
});
