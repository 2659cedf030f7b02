/**
 * The WebGPU Conv workaround: every Conv of a rewritten graph reads a multiple of 4 input channels, and the
 * graph computes what it did (onnxruntime-node, same inputs).
 */
import * as ort from 'onnxruntime-node';
import onnxProto from 'onnx-proto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GRAPHS } from '../../../models/bundle/graphs.ts';
import { createRng } from '../../../models/diffusion/rng.ts';
import { padConvInputChannels } from '../../../models/onnx/conv-channel-padding.ts';
import { halfPrecisionModel } from '../../../models/onnx/fp16-compute.ts';
import { OnnxGraph } from '../../../models/onnx/graph.ts';
import { encodeModel } from '../../../models/onnx/writer.ts';
import { ROOT } from '../../support/cli.ts';

const { onnx } = onnxProto;
const maxRelDiff = (a: Float32Array, b: Float32Array) =>
  a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0) / a.reduce((m, v) => Math.max(m, Math.abs(v)), 0);

/** Every Conv's input channels, from its filter (an initializer, or the initializer its Cast reads). */
function convInputChannels(bytes: Uint8Array): number[] {
  const g = onnx.ModelProto.decode(bytes).graph!;
  const inits = new Map(g.initializer!.map((t) => [t.name!, t]));
  const producer = new Map(g.node!.flatMap((n) => n.output!.map((o) => [o, n] as const)));
  return g
    .node!.filter((n) => n.opType === 'Conv')
    .map((n) => {
      const w = n.input![1];
      return Number(inits.get(producer.get(w)?.opType === 'Cast' ? producer.get(w)!.input![0] : w)!.dims![1]);
    });
}

async function run(bytes: Uint8Array, feeds: Record<string, ort.Tensor>): Promise<Float32Array> {
  const s = await ort.InferenceSession.create(bytes);
  return (await s.run(feeds))[s.outputNames[0]].data as Float32Array;
}

describe('padConvInputChannels', () => {
  it('pads the upscaler’s 6-channel first Conv (float16 weights behind a Cast) to 8 and leaves its output unchanged', async () => {
    const bytes = readFileSync(join(ROOT, 'models/bundles/shapes', GRAPHS.upscaler.file));
    const before = convInputChannels(bytes);
    expect(before).toContain(6);
    const padded = padConvInputChannels(bytes);
    expect(convInputChannels(padded)).toEqual(before.map((c) => Math.ceil(c / 4) * 4));
    expect(convInputChannels(padded).every((c) => c % 4 === 0)).toBe(true);

    const m = JSON.parse(readFileSync(join(ROOT, 'models/bundles/shapes/manifest.json'), 'utf8')) as { imageSize: number };
    const size = 2 * m.imageSize;
    const rng = createRng(3);
    const u = GRAPHS.upscaler.inputs;
    const feeds = {
      [u.sample]: new ort.Tensor('float32', rng.fill(2 * 3 * size * size), [2, 3, size, size]),
      [u.timestep]: new ort.Tensor('float32', Float32Array.of(900, 250), [2]),
      [u.lowRes]: new ort.Tensor('float32', rng.fill((2 * 3 * size * size) / 4), [2, 3, size / 2, size / 2]),
      [u.noiseLevel]: new ort.Tensor('float32', Float32Array.of(100, 20), [2]),
    };
    expect(maxRelDiff(await run(padded, feeds), await run(bytes, feeds))).toBeLessThan(1e-5);
    // The float16 rewrite first, then this (the page's order on shader-f16 adapters): float16 filters padded too.
    const half = halfPrecisionModel(bytes);
    expect(maxRelDiff(await run(padConvInputChannels(half), feeds), await run(half, feeds))).toBeLessThan(1e-3);
  });

  it('pads a float32 filter read directly, and returns a graph that needs nothing as the same bytes', async () => {
    const conv = (cin: number) => {
      const g = new OnnxGraph('conv');
      const x = g.addInput({ name: 'x', dtype: 'float32', dims: [1, cin, 5, 5] });
      const w = g.floatInitializer('w', [2, cin, 3, 3], createRng(cin).fill(2 * cin * 9));
      g.addOutput(g.node('Conv', [x, w], { kernel_shape: { ints: [3, 3] }, pads: { ints: [1, 1, 1, 1] } })[0], {
        name: 'y',
        dtype: 'float32',
        dims: [1, 2, 5, 5],
      });
      return encodeModel(g);
    };
    const nine = conv(9);
    const padded = padConvInputChannels(nine);
    expect(convInputChannels(padded)).toEqual([12]);
    const x = { x: new ort.Tensor('float32', createRng(5).fill(9 * 25), [1, 9, 5, 5]) };
    expect(maxRelDiff(await run(padded, x), await run(nine, x))).toBeLessThan(1e-6);
    const eight = conv(8);
    expect(padConvInputChannels(eight)).toBe(eight);
  });
});
