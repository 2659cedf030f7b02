import { InvalidArgumentError, requireInteger } from '../errors.ts';
import type { NoiseSchedule } from './schedule.ts';

function requireSameLength(a: ArrayLike<number>, b: ArrayLike<number>, what: string): void {
  if (a.length !== b.length) throw new InvalidArgumentError(what, `length ${b.length} does not match ${a.length}`);
}

/** Closed form q(x_t | x_0): x_t = sqrt(ᾱ_t) x_0 + sqrt(1-ᾱ_t) ε. Jumps straight to step t. */
export function qSample(schedule: NoiseSchedule, x0: ArrayLike<number>, noise: ArrayLike<number>, t: number): Float32Array {
  requireInteger('t', t, 0, schedule.config.trainSteps - 1);
  requireSameLength(x0, noise, 'noise');
  const a = Math.sqrt(schedule.alphasCumprod[t]);
  const s = Math.sqrt(1 - schedule.alphasCumprod[t]);
  const out = new Float32Array(x0.length);
  for (let i = 0; i < out.length; i++) out[i] = a * x0[i] + s * noise[i];
  return out;
}

/** One Markov step q(x_t | x_{t-1}): x_t = sqrt(α_t) x_{t-1} + sqrt(β_t) ε. */
export function qStep(schedule: NoiseSchedule, xPrev: ArrayLike<number>, noise: ArrayLike<number>, t: number): Float64Array {
  requireInteger('t', t, 0, schedule.config.trainSteps - 1);
  requireSameLength(xPrev, noise, 'noise');
  const a = Math.sqrt(schedule.alphas[t]);
  const s = Math.sqrt(schedule.betas[t]);
  const out = new Float64Array(xPrev.length);
  for (let i = 0; i < out.length; i++) out[i] = a * xPrev[i] + s * noise[i];
  return out;
}
