import { InvalidArgumentError } from '../../errors.ts';
import { predictedEps, predictedX0, type PredictionType } from '../prediction.ts';
import type { GaussianRng } from '../rng.ts';
import { alphaBarAt } from '../schedule.ts';
import type { SamplerContext } from './types.ts';

/**
 * ᾱ never reaches exactly 0 where it divides: with a zero-terminal-SNR schedule the first step would
 * otherwise divide by zero. 2^-24 is the clamp diffusers uses for the same reason.
 */
export const MIN_ALPHA_BAR = 2 ** -24;

export function alphaBars(ctx: SamplerContext, i: number): { abar: number; abarPrev: number } {
  const t = ctx.timesteps[i];
  const prev = i + 1 < ctx.timesteps.length ? ctx.timesteps[i + 1] : -1;
  return {
    abar: Math.max(alphaBarAt(ctx.schedule, t), MIN_ALPHA_BAR),
    abarPrev: Math.max(alphaBarAt(ctx.schedule, prev), MIN_ALPHA_BAR),
  };
}

export function requireStepIndex(ctx: SamplerContext, i: number, modelOutput: ArrayLike<number>, sample: ArrayLike<number>): void {
  if (!Number.isInteger(i) || i < 0 || i >= ctx.timesteps.length) {
    throw new InvalidArgumentError('i', `step index must be an integer in [0, ${ctx.timesteps.length - 1}], got ${i}`);
  }
  if (modelOutput.length !== sample.length) {
    throw new InvalidArgumentError('modelOutput', `length ${modelOutput.length} does not match sample length ${sample.length}`);
  }
}

export function requireRng(ctx: SamplerContext, sampler: string): GaussianRng {
  if (!ctx.options.rng) throw new InvalidArgumentError('rng', `sampler '${sampler}' is stochastic and needs an rng`);
  return ctx.options.rng;
}

/** The (x₀, ε) pair implied by a model output at ᾱ. */
export function denoise(
  type: PredictionType,
  out: ArrayLike<number>,
  xt: ArrayLike<number>,
  abar: number,
): { x0: Float64Array; eps: Float64Array } {
  const x0 = new Float64Array(xt.length);
  const eps = new Float64Array(xt.length);
  for (let j = 0; j < xt.length; j++) {
    x0[j] = predictedX0(type, out[j], xt[j], abar);
    eps[j] = predictedEps(type, out[j], xt[j], abar);
  }
  return { x0, eps };
}

/** What every sampler step starts from: validated inputs, ᾱ at both ends, the implied (x₀, ε), and whether this is the last step. */
export function beginStep(ctx: SamplerContext, i: number, modelOutput: ArrayLike<number>, sample: ArrayLike<number>) {
  requireStepIndex(ctx, i, modelOutput, sample);
  const { abar, abarPrev } = alphaBars(ctx, i);
  const { x0, eps } = denoise(ctx.options.predictionType, modelOutput, sample, abar);
  return { abar, abarPrev, x0, eps, last: i === ctx.timesteps.length - 1 };
}
