import * as tf from '@tensorflow/tfjs-core';
import { beforeAll, describe, expect, it } from 'vitest';
import { unet } from '../../models/nn/unet.ts';
import { createRng } from '../../models/diffusion/rng.ts';
import { initTrainingBackend } from '../../trainer/tfjs/backend.ts';
import { tfjsOps } from '../../trainer/tfjs/ops.ts';
import { ParamStore } from '../../trainer/tfjs/params.ts';
import { relativeMaxError } from '../support/ort.ts';
import { networkCases, randomizeWeights, TINY, toTensors } from '../support/tiny-networks.ts';

const randn = (seed: number, shape: number[]) => Array.from(createRng(seed).fill(shape.reduce((a, b) => a * b, 1)));

/** Run f on a back end and return its result's values. */
async function on(backend: 'wasm' | 'cpu', f: () => tf.Tensor): Promise<Float32Array> {
  await tf.setBackend(backend);
  return tf.tidy(f).data() as Promise<Float32Array>;
}

/** Central differences at the first, a middle and the last coordinate agree with the analytic gradient. */
async function expectFiniteDifferences(values: number[], grad: Float32Array, lossOf: (v: number[]) => tf.Tensor): Promise<void> {
  const eps = 1e-2;
  for (const i of [0, Math.floor(values.length / 2), values.length - 1]) {
    const plus = [...values];
    const minus = [...values];
    plus[i] += eps;
    minus[i] -= eps;
    const fd = await on('wasm', () => tf.div(tf.sub(lossOf(plus), lossOf(minus)), 2 * eps));
    expect(Math.abs(fd[0] - grad[i])).toBeLessThan(2e-2 * Math.max(1, Math.abs(grad[i])));
  }
}

type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];
const CONV_CASES: { x: [number, number, number, number]; k: number; stride: number; pad: Pad }[] = [
  { x: [2, 8, 8, 3], k: 3, stride: 1, pad: 'same' },
  { x: [2, 8, 8, 3], k: 3, stride: 2, pad: 'same' },
  { x: [3, 9, 10, 4], k: 3, stride: 2, pad: 'valid' },
  {
    x: [2, 9, 7, 2],
    k: 3,
    stride: 2,
    pad: [
      [0, 0],
      [0, 1],
      [0, 1],
      [0, 0],
    ],
  },
  { x: [1, 11, 11, 3], k: 5, stride: 3, pad: 'same' },
  { x: [2, 6, 6, 5], k: 1, stride: 1, pad: 'valid' },
  {
    x: [2, 7, 7, 3],
    k: 3,
    stride: 1,
    pad: [
      [0, 0],
      [2, 0],
      [1, 1],
      [0, 0],
    ],
  },
];

describe('wasm training kernels', () => {
  beforeAll(async () => {
    await initTrainingBackend('cpu');
    await initTrainingBackend('wasm');
  });

  for (const { x: xs, k, stride, pad } of CONV_CASES) {
    const label = `${xs.join('x')} k${k} s${stride} pad ${JSON.stringify(pad)}`;
    const wShape: [number, number, number, number] = [k, k, xs[3], 4];
    const xv = randn(1, xs);
    const wv = randn(2, wShape);
    const conv = (x: tf.Tensor, w: tf.Tensor) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, stride, pad);
    const outShape = tf.tidy(() => conv(tf.tensor4d(xv, xs), tf.tensor4d(wv, wShape)).shape);
    const r = randn(3, outShape);
    // A loss linear in each argument: central differences are then exact up to float rounding.
    const loss = (x: tf.Tensor, w: tf.Tensor) => tf.sum(tf.mul(conv(x, w), tf.tensor(r, outShape)));

    it(`Conv2DBackpropFilter matches cpu and finite differences (${label})`, async () => {
      const grad = () => tf.grad((w: tf.Tensor) => loss(tf.tensor4d(xv, xs), w))(tf.tensor4d(wv, wShape));
      const wasm = await on('wasm', grad);
      expect(relativeMaxError(wasm, await on('cpu', grad))).toBeLessThan(1e-5);
      await expectFiniteDifferences(wv, wasm, (w) => loss(tf.tensor4d(xv, xs), tf.tensor4d(w, wShape)));
    });

    it(`Conv2DBackpropInput matches cpu and finite differences (${label})`, async () => {
      const grad = () => tf.grad((x: tf.Tensor) => loss(x, tf.tensor4d(wv, wShape)))(tf.tensor4d(xv, xs));
      const wasm = await on('wasm', grad);
      expect(relativeMaxError(wasm, await on('cpu', grad))).toBeLessThan(1e-5);
      await expectFiniteDifferences(xv, wasm, (x) => loss(tf.tensor4d(x, xs), tf.tensor4d(wv, wShape)));
    });
  }

  it('UnsortedSegmentSum (the gradient of an embedding lookup) matches cpu, repeated and unused ids included', async () => {
    const table = randn(4, [6, 5]);
    const ids = [
      [1, 2, 2, 0],
      [5, 1, 1, 1],
    ];
    const grad = () =>
      tf.grad((t: tf.Tensor) => tf.sum(tf.square(tf.gather(t, tf.tensor2d(ids, [2, 4], 'int32')))))(tf.tensor2d(table, [6, 5]));
    const wasm = await on('wasm', grad);
    expect(relativeMaxError(wasm, await on('cpu', grad))).toBeLessThan(1e-6);
    // Row 3 is never looked up: its gradient is exactly zero; row 1 is looked up four times.
    expect(Array.from(wasm.slice(15, 20))).toEqual([0, 0, 0, 0, 0]);
    for (let j = 0; j < 5; j++) expect(wasm[5 + j]).toBeCloseTo(8 * table[5 + j], 4);
  });

  for (const [ta, tb] of [
    [true, false],
    [false, true],
    [true, true],
  ] as const) {
    it(`BatchMatMul transposeA=${ta} transposeB=${tb}: values and gradients match cpu`, async () => {
      const aShape: [number, number, number] = ta ? [3, 5, 4] : [3, 4, 5];
      const bShape: [number, number, number] = tb ? [3, 6, 5] : [3, 5, 6];
      const a = randn(5, aShape);
      const b = randn(6, bShape);
      const f = () => tf.matMul(tf.tensor(a, aShape) as tf.Tensor3D, tf.tensor(b, bShape) as tf.Tensor3D, ta, tb);
      expect(relativeMaxError(await on('wasm', f), await on('cpu', f))).toBeLessThan(1e-6);
      const g = () =>
        tf.grad((x: tf.Tensor) => tf.sum(tf.square(tf.matMul(x as tf.Tensor3D, tf.tensor(b, bShape) as tf.Tensor3D, ta, tb))))(
          tf.tensor(a, aShape),
        );
      expect(relativeMaxError(await on('wasm', g), await on('cpu', g))).toBeLessThan(1e-5);
    });
  }

  it('a whole U-Net training step gives the same loss and gradients on wasm as on cpu', async () => {
    const cfg = TINY.unet;
    const [c] = networkCases(2).filter((n) => n.name === 'unet');
    const target = randn(8, c.inputs.sample.shape);
    const step = async (backend: 'wasm' | 'cpu') => {
      await tf.setBackend(backend);
      const store = new ParamStore(`step-${backend}`, 1);
      const x = toTensors(c.inputs);
      const forward = () => unet(tfjsOps(store), cfg, { sample: x.sample, timestep: x.timestep, context: x.encoder_hidden_states });
      tf.tidy(forward);
      randomizeWeights(store, 11);
      const { value, grads } = tf.variableGrads(
        () => tf.mean(tf.squaredDifference(forward(), tf.tensor(target, c.inputs.sample.shape))) as tf.Scalar,
      );
      const out = { loss: (await value.data())[0], grads: new Map<string, Float32Array>() };
      for (const [name, v] of store.variables) out.grads.set(name, (await grads[v.name].data()) as Float32Array);
      store.dispose();
      return out;
    };
    const wasm = await step('wasm');
    const cpu = await step('cpu');
    expect(Math.abs(wasm.loss - cpu.loss) / cpu.loss).toBeLessThan(1e-5);
    expect(wasm.grads.size).toBe(cpu.grads.size);
    let worst = 0;
    let total = 0;
    let totalDiff = 0;
    for (const [name, g] of cpu.grads) {
      const w = wasm.grads.get(name)!;
      g.forEach((v, i) => {
        total += v * v;
        totalDiff += (w[i] - v) ** 2;
      });
      worst = Math.max(worst, relativeMaxError(w, g));
    }
    // Over all parameters, the gradient vectors agree to 1e-5 relative (L2); per tensor, to 1e-3 at worst.
    expect(Math.sqrt(totalDiff / total)).toBeLessThan(1e-5);
    expect(worst).toBeLessThan(1e-3);
  });
});
