import onnxProto from 'onnx-proto';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { createRng } from '../../models/diffusion/rng.ts';
import { OnnxGraph } from '../../models/onnx/graph.ts';
import { encodeModel } from '../../models/onnx/writer.ts';
import { ADAM } from '../../trainer/engine.ts';
import { createOrtEngine } from '../../trainer/ort/engine.ts';
import { blockConvs, nchwcBlockSize, sliceShape } from '../../trainer/ort/nchwc.ts';
import { buildTrainGraph } from '../../trainer/ort/train-graph.ts';
import { objectiveParams } from '../../trainer/objective.ts';
import { denoising } from '../support/denoising.ts';
import { relL2 } from '../support/rel-l2.ts';

const { onnx } = onnxProto;

/**
 * Seven convs over fed filters: a plain one, one whose filter is flipped and transposed in the graph (as an input
 * gradient's is) feeding a strided one with bias, which feeds a 1×1, one whose filter is a Transpose of a fed tensor
 * (as a filter gradient's dyᵀ is; here with H and W swapped too), and two the rewrite must leave alone (4 input
 * channels; grouped).
 */
function convGraph() {
  const g = new OnnxGraph('convs');
  const x = g.addInput({ name: 'x', dtype: 'float32', dims: [2, 16, 9, 9] });
  const w1 = g.addInput({ name: 'w1', dtype: 'float32', dims: [16, 16, 3, 3] });
  const w2 = g.addInput({ name: 'w2', dtype: 'float32', dims: [32, 16, 3, 3] });
  const b2 = g.addInput({ name: 'b2', dtype: 'float32', dims: [32] });
  const w3 = g.addInput({ name: 'w3', dtype: 'float32', dims: [16, 32, 1, 1] });
  const w4 = g.addInput({ name: 'w4', dtype: 'float32', dims: [16, 4, 3, 3] });
  const wg = g.addInput({ name: 'wg', dtype: 'float32', dims: [16, 8, 3, 3] });
  const d = g.addInput({ name: 'd', dtype: 'float32', dims: [16, 32, 5, 3] });
  const pads = { pads: { ints: [1, 1, 1, 1] } };
  const i64 = (v: number[]) => g.int64Initializer('c', v);
  const flipped = g.node('Transpose', [g.node('Slice', [w1, i64([-1, -1]), i64([-4, -4]), i64([2, 3]), i64([-1, -1])])[0]], {
    perm: { ints: [1, 0, 2, 3] },
  })[0];
  const [y1] = g.node('Conv', [x, flipped], pads);
  const [y2] = g.node('Conv', [y1, w2, b2], { ...pads, strides: { ints: [2, 2] } });
  const [y3] = g.node('Conv', [y2, w3]);
  const [y4] = g.node('Conv', [g.node('Slice', [y3, i64([0]), i64([4]), i64([1])])[0], w4], pads);
  const [y5] = g.node('Conv', [y4, wg], { ...pads, group: { i: 2 } });
  g.addOutput(g.node('Conv', [x, w1], pads)[0], { name: 'plain', dtype: 'float32', dims: [2, 16, 9, 9] });
  g.addOutput(y5, { name: 'chain', dtype: 'float32', dims: [2, 16, 5, 5] });
  const dT = g.node('Transpose', [d], { perm: { ints: [1, 0, 3, 2] } })[0];
  g.addOutput(g.node('Conv', [x, dT], { pads: { ints: [1, 2, 1, 2] } })[0], { name: 'transposed', dtype: 'float32', dims: [2, 32, 9, 9] });
  return g;
}

describe('convs on onnxruntime’s blocked NCHWc kernels', () => {
  it('the probe reads the block size off the kernel: 8 with AVX2, 16 with AVX-512, on x86-64', async () => {
    const block = await nchwcBlockSize();
    if (process.arch === 'x64') expect([8, 16]).toContain(block);
    else expect(block).toBeGreaterThanOrEqual(0);
  });

  it('moves exactly the convs with whole blocks of channels, and computes what the plain graph computes', async () => {
    const block = await nchwcBlockSize();
    const rng = createRng(3);
    const feeds: Record<string, ort.Tensor> = {};
    for (const input of convGraph().inputs) {
      const dims = input.dims as number[];
      feeds[input.name] = new ort.Tensor('float32', rng.fill(dims.reduce((a, b) => a * b, 1)), dims);
    }
    const run = async (g: OnnxGraph) => {
      const session = await ort.InferenceSession.create(encodeModel(g), { graphOptimizationLevel: 'all', intraOpNumThreads: 1 });
      const out = await session.run(feeds);
      await session.release();
      return out;
    };
    const plain = await run(convGraph());
    const blocked = convGraph();
    // x, the flipped w1, the strided conv and the 1×1 after it, the transposed filter; the 4-channel and grouped convs stay.
    expect(blockConvs(blocked, 8)).toBe(5);
    expect(blocked.nodes.filter((n) => n.opType === 'Conv' && !n.domain)).toHaveLength(2);
    // x once for both its convs; the strided conv reads the flipped conv's output, the 1×1 the strided one's, still blocked.
    expect(blocked.nodes.filter((n) => n.opType === 'ReorderInput')).toHaveLength(1);
    // w1's flip happens after its blocked reorder, as a Gather of whole blocks: its Slice and Transpose are gone.
    expect(blocked.nodes.filter((n) => n.opType === 'Slice' && n.inputs[0] === 'w1')).toHaveLength(0);
    expect(blocked.nodes.filter((n) => n.opType === 'Gather')).toHaveLength(1);
    // d is reordered into the blocked filter layout in one Transpose, and its own Transpose, read by nothing else, is gone.
    expect(blocked.nodes.filter((n) => n.opType === 'Transpose' && n.inputs[0] === 'd')).toHaveLength(0);
    expect(blockConvs(convGraph(), 1)).toBe(0);
    if (block !== 8) return; // the graph above is built for 8-channel blocks; AVX-512 machines run the engine test below
    const out = await run(blocked);
    for (const name of ['plain', 'chain', 'transposed']) {
      const [a, b] = [out[name].data as Float32Array, plain[name].data as Float32Array];
      const scale = Math.max(...b.map(Math.abs));
      expect(Math.max(...a.map((v, i) => Math.abs(v - b[i]))) / scale).toBeLessThan(1e-5);
    }
  });

  it('a training step on blocked convs matches the generic one', async () => {
    const block = await nchwcBlockSize();
    // Batch 16 fills whole blocks of 8 or 16, so the filter gradients take their conv form too.
    const objective = denoising(16);
    const settings = { seed: 4, weightDecay: 0.01, clipNorm: 1, emaDecay: 0.99 };
    const blockedConvCount = (batch: number) =>
      onnx.ModelProto.decode(
        buildTrainGraph(denoising(batch), objectiveParams(objective), { ...settings, ...ADAM }, { nchwcBlock: block }),
      ).graph?.node?.filter((n) => n.domain === 'com.microsoft.nchwc' && n.opType === 'Conv').length ?? 0;
    if (process.arch === 'x64') {
      // Forward and input-gradient convs at any batch; at 16 also every 3×3 filter gradient (the tiny U-Net has 9).
      expect(blockedConvCount(4)).toBeGreaterThan(10);
      expect(blockedConvCount(16) - blockedConvCount(4)).toBeGreaterThanOrEqual(9);
    }
    const engines = await Promise.all(
      [0, undefined].map((nchwcBlock) => createOrtEngine(objective, settings, { nchwcBlock, exposeGradients: true })),
    );
    const [generic, blocked] = engines;
    for (let s = 0; s < 3; s++) {
      expect(await blocked.step(s, 2e-3)).toBeCloseTo(await generic.step(s, 2e-3), 5);
      // Gradients, not parameters: AdamW's first steps move each weight by ≈ lr·sign(g), which turns rounding-level
      // differences in near-zero gradients into visible ones.
      for (const p of generic.params) {
        const [a, b] = [blocked.gradient(p.key), generic.gradient(p.key)];
        expect(relL2(a, b), `${p.key} at step ${s}`).toBeLessThan(1e-4); // the gradient tests’ tolerance against tfjs
      }
    }
    generic.dispose();
    blocked.dispose();
  });

  it('sliceShape agrees with onnxruntime’s Slice on any arguments, negative steps and out-of-range bounds included', async () => {
    const axisSlice = fc.record({
      start: fc.integer({ min: -8, max: 8 }),
      end: fc.integer({ min: -8, max: 8 }),
      step: fc.integer({ min: 1, max: 3 }),
      reverse: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: 6 }), { minLength: 3, maxLength: 3 }),
        fc.uniqueArray(fc.integer({ min: 0, max: 2 }), { minLength: 1, maxLength: 3 }),
        fc.array(axisSlice, { minLength: 3, maxLength: 3 }),
        async (shape, axes, slices) => {
          const args = [
            axes.map((_, k) => slices[k].start),
            axes.map((_, k) => slices[k].end),
            axes,
            axes.map((_, k) => (slices[k].reverse ? -1 : 1) * slices[k].step),
          ];
          const g = new OnnxGraph('slice');
          g.addInput({ name: 'x', dtype: 'float32', dims: shape });
          const [y] = g.node('Slice', ['x', ...args.map((v) => g.int64Initializer('c', v))]);
          g.addOutput(y, { name: 'y', dtype: 'float32', dims: ['a', 'b', 'c'] });
          const session = await ort.InferenceSession.create(encodeModel(g));
          const out = await session.run({ x: new ort.Tensor('float32', new Float32Array(shape[0] * shape[1] * shape[2]), shape) });
          await session.release();
          expect(sliceShape(shape, args)).toEqual(out.y.dims);
        },
      ),
      { numRuns: 60, seed: 9 },
    );
  });
});
