import * as tf from '@tensorflow/tfjs-core';
import { createUniformRng, mixSeed } from '../models/diffusion/rng.ts';
import type { PredictionType } from '../models/diffusion/prediction.ts';
import type { NoiseSchedule } from '../models/diffusion/schedule.ts';

/**
 * One batch of the denoising objective: timesteps uniform in [0, T), x_t = √ᾱ x₀ + √(1−ᾱ) ε, and the
 * target for the prediction type (ε, x₀, or v = √ᾱ ε − √(1−ᾱ) x₀). Randomness derives from (seed, step).
 */
export function noisedBatch(schedule: NoiseSchedule, x0: tf.Tensor4D, type: PredictionType, seed: number, step: number, maxT = schedule.config.trainSteps) {
  const n = x0.shape[0];
  const rand = createUniformRng(mixSeed(seed, step, 0x7));
  const t = Float32Array.from({ length: n }, () => Math.floor(rand() * maxT));
  const a = Float32Array.from(t, (ti) => Math.sqrt(schedule.alphasCumprod[ti]));
  const s = Float32Array.from(t, (ti) => Math.sqrt(1 - schedule.alphasCumprod[ti]));
  const eps = tf.randomNormal(x0.shape, 0, 1, 'float32', mixSeed(seed, step, 0x8));
  const A = tf.tensor4d(a, [n, 1, 1, 1]);
  const S = tf.tensor4d(s, [n, 1, 1, 1]);
  const xt = tf.add(tf.mul(A, x0), tf.mul(S, eps)) as tf.Tensor4D;
  const target = type === 'epsilon' ? eps : type === 'sample' ? x0 : tf.sub(tf.mul(A, eps), tf.mul(S, x0));
  return { t: tf.tensor1d(t), xt, target };
}
