import { describe, expect, it } from 'vitest';
import type { Manifest } from '../../../models/bundle/manifest.ts';
import { upscaleImage, type DiffusionRuntime, type Tensor } from '../../../models/pipeline/generate.ts';
import { createRng } from '../../../models/diffusion/rng.ts';
import { alphaBarAt, createSchedule } from '../../../models/diffusion/schedule.ts';

const schedule = { kind: 'scaled-linear', trainSteps: 1000, betaStart: 0.00085, betaEnd: 0.012, zeroTerminalSnr: true } as const;
const manifest = (steps: number, noiseLevel = 0) =>
  ({ diffusion: { predictionType: 'v_prediction', schedule }, upscale: { factor: 2, noiseLevel, steps, schedule } }) as unknown as Manifest;

function low(b = 2, c = 3, h = 4, w = 5): Tensor {
  const rng = createRng(3);
  return { data: rng.fill(b * c * h * w).map((v) => Math.tanh(v)), dims: [b, c, h, w] };
}

/** A runtime whose upscaler network predicts v = `v(sample)` and records the conditions it was given. */
function fakeRuntime(v: (sample: Tensor) => Float32Array, seen: Tensor[] = []): DiffusionRuntime {
  return {
    unet: () => Promise.reject(new Error('unused')),
    decode: () => Promise.reject(new Error('unused')),
    upscale: async (sample, _t, lowRes) => {
      seen.push(lowRes);
      return { data: v(sample), dims: sample.dims };
    },
  };
}

describe('upscaleImage: the upscaler diffuses the residual over nearest-neighbour upsampling', () => {
  // Samplers clamp ᾱ at t = T to 2^-24 (not 0), so x0 = √ᾱ·x − √(1−ᾱ)·v keeps a ~2e-4·noise term: hence 2e-3, not exact.
  it('a network that predicts v = 0 gives the nearest-neighbour upscale in one step (zero terminal SNR: x0 = -v)', async () => {
    const l = low();
    const out = await upscaleImage(fakeRuntime((s) => new Float32Array(s.data.length)), manifest(1), l, 5);
    const [b, c, h, w] = l.dims;
    expect(out.dims).toEqual([b, c, 2 * h, 2 * w]);
    for (let p = 0; p < b * c; p++)
      for (let y = 0; y < 2 * h; y++)
        for (let x = 0; x < 2 * w; x++) expect(Math.abs(out.data[(p * 2 * h + y) * 2 * w + x] - l.data[(p * h + (y >> 1)) * w + (x >> 1)])).toBeLessThan(2e-3);
  });

  it("a network that predicts the residual's v exactly recovers the residual with any step count", async () => {
    const l = low(1, 3, 3, 3);
    const residual = createRng(9).fill(1 * 3 * 6 * 6).map((v) => 0.1 * v);
    // At zero terminal SNR the first step sees pure noise; predicting v = -residual there makes x0 = residual.
    for (const steps of [1, 4]) {
      const runtime: DiffusionRuntime = {
        ...fakeRuntime(() => new Float32Array(0)),
        // x_t = a·x0 + s·ε and v = a·ε − s·x0; from x_t and x0 = residual: ε = (x_t − a·x0)/s.
        upscale: async (sample, t) => {
          const abar = alphaBarAt(createSchedule(schedule), t[0]);
          const [a, s] = [Math.sqrt(abar), Math.sqrt(1 - abar)];
          return { data: sample.data.map((xt, i) => (s === 0 ? -residual[i] : a * ((xt - a * residual[i]) / s) - s * residual[i])), dims: sample.dims };
        },
      };
      const out = await upscaleImage(runtime, manifest(steps), l, 2);
      const near = (await upscaleImage(fakeRuntime((s) => new Float32Array(s.data.length)), manifest(1), l, 2)).data;
      out.data.forEach((v, i) => expect(Math.abs(v - near[i] - residual[i])).toBeLessThan(2e-3));
    }
  });

  it('noise-augments the condition at noiseLevel and is seeded: same seed, same image', async () => {
    const l = low();
    const seen: Tensor[] = [];
    const v = (s: Tensor) => s.data.map((x) => 0.3 * x);
    const a = await upscaleImage(fakeRuntime(v, seen), manifest(3, 50), l, 11);
    const b = await upscaleImage(fakeRuntime(v), manifest(3, 50), l, 11);
    const c = await upscaleImage(fakeRuntime(v), manifest(3, 50), l, 12);
    expect(b.data).toEqual(a.data);
    expect(c.data).not.toEqual(a.data);
    const diff = Math.sqrt(seen[0].data.reduce((s, x, i) => s + (x - l.data[i]) ** 2, 0) / l.data.length);
    expect(diff).toBeGreaterThan(0.05); // augmented, not the clean image
    expect(diff).toBeLessThan(0.6);
  });

  it('rejects a step count outside 1..trainSteps with a typed error', async () => {
    await expect(upscaleImage(fakeRuntime((s) => s.data), manifest(1), low(), 1, { steps: 0 })).rejects.toThrow(/steps/);
  });
});
