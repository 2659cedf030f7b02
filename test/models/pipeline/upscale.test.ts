import { describe, expect, it } from 'vitest';
import type { Manifest } from '../../../models/bundle/manifest.ts';
import { upscaleImage } from '../../../models/pipeline/generate.ts';
import type { DiffusionRuntime, Tensor } from '../../../models/pipeline/runtime.ts';
import { createRng } from '../../../models/diffusion/rng.ts';
import { alphaBarAt, createSchedule } from '../../../models/diffusion/schedule.ts';
import { resizeBicubic } from '../../../models/image.ts';
import { batchToImages, imagesToBatch } from '../../../models/pipeline/layout.ts';

const schedule = { kind: 'scaled-linear', trainSteps: 1000, betaStart: 0.00085, betaEnd: 0.012, zeroTerminalSnr: true } as const;
const manifest = (steps: number, noiseLevel = 0, predictionType = 'v_prediction') =>
  ({
    diffusion: { predictionType: 'epsilon', schedule },
    upscale: { factor: 2, noiseLevel, steps, predictionType, schedule },
  }) as unknown as Manifest;

function low(b = 2, c = 3, h = 4, w = 5): Tensor {
  const rng = createRng(3);
  return { data: rng.fill(b * c * h * w).map((v) => Math.tanh(v)), dims: [b, c, h, w] };
}

/** A runtime whose upscaler network predicts v = `v(sample)` and records the conditions it was given. */
function fakeRuntime(v: (sample: Tensor) => Float32Array, seen: Tensor[] = []): DiffusionRuntime {
  return {
    unet: () => Promise.reject(new Error('unused')),
    decode: () => Promise.reject(new Error('unused')),
    upscale: async ({ sample, lowRes }) => {
      seen.push(lowRes);
      return { data: v(sample), dims: sample.dims };
    },
  };
}

describe('upscaleImage: the upscaler diffuses the residual over bicubic upsampling', () => {
  const zero = (s: Tensor) => new Float32Array(s.data.length);

  it('an x0-predicting network that outputs 0 gives exactly the bicubic upscale, at any step count', async () => {
    const l = low();
    const [b, c, h, w] = l.dims;
    const bicubic = imagesToBatch(batchToImages(l.data, l.dims).map((im) => resizeBicubic(im, 2 * w, 2 * h)));
    for (const steps of [1, 3]) {
      const out = await upscaleImage(fakeRuntime(zero), manifest(steps, 0, 'sample'), l, 5);
      expect(out.dims).toEqual([b, c, 2 * h, 2 * w]);
      out.data.forEach((v, i) => expect(v).toBeCloseTo(bicubic.data[i], 6));
    }
  });

  it("samples with the upscaler's own prediction type, not the base model's", async () => {
    // The same zero output read as v (x0 = √ᾱ·x − √(1−ᾱ)·v) at 3 steps keeps sampler noise; read as x0 it does not.
    const l = low();
    const asV = await upscaleImage(fakeRuntime(zero), manifest(3, 0, 'v_prediction'), l, 5);
    const asX0 = await upscaleImage(fakeRuntime(zero), manifest(3, 0, 'sample'), l, 5);
    const rms = Math.sqrt(asV.data.reduce((s, v, i) => s + (v - asX0.data[i]) ** 2, 0) / asV.data.length);
    expect(rms).toBeGreaterThan(1e-3);
  });

  it("a network that predicts the residual's v exactly recovers the residual with any step count", async () => {
    const l = low(1, 3, 3, 3);
    const residual = createRng(9)
      .fill(1 * 3 * 6 * 6)
      .map((v) => 0.1 * v);
    // At zero terminal SNR the first step sees pure noise; predicting v = -residual there makes x0 = residual.
    for (const steps of [1, 4]) {
      const runtime: DiffusionRuntime = {
        ...fakeRuntime(() => new Float32Array(0)),
        // x_t = a·x0 + s·ε and v = a·ε − s·x0; from x_t and x0 = residual: ε = (x_t − a·x0)/s.
        upscale: async ({ sample, timestep }) => {
          const abar = alphaBarAt(createSchedule(schedule), timestep[0]);
          const [a, s] = [Math.sqrt(abar), Math.sqrt(1 - abar)];
          return {
            data: sample.data.map((xt, i) => (s === 0 ? -residual[i] : a * ((xt - a * residual[i]) / s) - s * residual[i])),
            dims: sample.dims,
          };
        },
      };
      const out = await upscaleImage(runtime, manifest(steps), l, 2);
      // Samplers clamp ᾱ at t = T to 2^-24 (not 0), so x0 = √ᾱ·x − √(1−ᾱ)·v keeps a ~2e-4·noise term: hence 2e-3.
      const base = (await upscaleImage(fakeRuntime(zero), manifest(1, 0, 'sample'), l, 2)).data;
      out.data.forEach((v, i) => expect(Math.abs(v - base[i] - residual[i])).toBeLessThan(2e-3));
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
    await expect(
      upscaleImage(
        fakeRuntime((s) => s.data),
        manifest(1),
        low(),
        1,
        { steps: 0 },
      ),
    ).rejects.toThrow(/steps/);
  });
});
