import { createRng, createUniformRng, mixSeed } from '../models/diffusion/rng.ts';
import type { PredictionType } from '../models/diffusion/prediction.ts';
import type { NoiseSchedule } from '../models/diffusion/schedule.ts';

/**
 * One batch of the denoising objective on NHWC data x₀ [n, …]: timesteps uniform in [0, maxT),
 * x_t = √ᾱ x₀ + √(1−ᾱ) ε, and the target for the prediction type (ε, x₀, or v = √ᾱ ε − √(1−ᾱ) x₀).
 * Randomness derives from (seed, step), so every engine and every resumed run sees the same batch.
 */
export function noisedBatch(
  schedule: NoiseSchedule,
  x0: Float32Array,
  n: number,
  type: PredictionType,
  seed: number,
  step: number,
  maxT = schedule.config.trainSteps,
) {
  const rand = createUniformRng(mixSeed(seed, step, 0x7));
  const t = Float32Array.from({ length: n }, () => Math.floor(rand() * maxT));
  const eps = createRng(mixSeed(seed, step, 0x8)).fill(x0.length);
  const per = x0.length / n;
  const xt = new Float32Array(x0.length);
  const target = new Float32Array(x0.length);
  for (let k = 0; k < n; k++) {
    const a = Math.sqrt(schedule.alphasCumprod[t[k]]);
    const s = Math.sqrt(1 - schedule.alphasCumprod[t[k]]);
    for (let i = k * per; i < (k + 1) * per; i++) {
      xt[i] = a * x0[i] + s * eps[i];
      target[i] = type === 'epsilon' ? eps[i] : type === 'sample' ? x0[i] : a * eps[i] - s * x0[i];
    }
  }
  return { t, xt, target };
}
