import { InvalidArgumentError } from '../../errors.ts';
import { linearPrediction } from '../prediction.ts';
import type { GaussianRng } from '../rng.ts';
import { alphaBarAt } from '../schedule.ts';
import type { CoefficientRule, SamplerContext, SamplerName, SamplerRun, StepPlan } from './types.ts';

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

function requireStepIndex(ctx: SamplerContext, i: number): void {
  if (!Number.isInteger(i) || i < 0 || i >= ctx.timesteps.length) {
    throw new InvalidArgumentError('i', `step index must be an integer in [0, ${ctx.timesteps.length - 1}], got ${i}`);
  }
}

export function requireRng(ctx: SamplerContext, sampler: string): GaussianRng {
  if (!ctx.options.rng) throw new InvalidArgumentError('rng', `sampler '${sampler}' is stochastic and needs an rng`);
  return ctx.options.rng;
}

/**
 * One step in JS, float64 per element: x̂₀ and the previous sample from the plan's coefficients (see
 * StepCoefficients). The GPU's sampler-step graph computes the same expression.
 */
export function applyStep(
  { coefficients: { x0: c0, prev: cp }, noise }: StepPlan,
  modelOutput: ArrayLike<number>,
  sample: ArrayLike<number>,
  x0Prev?: ArrayLike<number>,
): { prev: Float32Array; x0: Float32Array } {
  if (modelOutput.length !== sample.length) {
    throw new InvalidArgumentError('modelOutput', `length ${modelOutput.length} does not match sample length ${sample.length}`);
  }
  if (cp.x0Prev !== 0 && x0Prev?.length !== sample.length) throw new InvalidArgumentError('x0Prev', 'this step needs the previous x̂₀');
  const prev = new Float32Array(sample.length);
  const x0 = new Float32Array(sample.length);
  for (let j = 0; j < prev.length; j++) {
    const x = sample[j];
    const m = modelOutput[j];
    x0[j] = c0.x * x + c0.m * m;
    prev[j] = cp.x * x + cp.m * m + (cp.x0Prev === 0 ? 0 : cp.x0Prev * x0Prev![j]) + (noise ? cp.noise * noise[j] : 0);
  }
  return { prev, x0 };
}

/** A run from a sampler's coefficient rule: plans draw the rule's noise in order; `step` applies them in JS. */
export function linearRun(ctx: SamplerContext, name: SamplerName, rule: CoefficientRule, rng?: GaussianRng): SamplerRun {
  let lastX0: Float32Array | undefined;
  const plan = (i: number, size: number): StepPlan => {
    requireStepIndex(ctx, i);
    const { abar, abarPrev } = alphaBars(ctx, i);
    const { x0, eps } = linearPrediction(ctx.options.predictionType, abar);
    const { prev, drawsNoise } = rule(i, { abar, abarPrev, last: i === ctx.timesteps.length - 1, x0, eps });
    return { coefficients: { x0, prev }, noise: drawsNoise ? rng!.fill(size) : undefined };
  };
  return {
    name,
    timesteps: ctx.timesteps,
    plan,
    step(i, modelOutput, sample) {
      if (modelOutput.length !== sample.length) {
        throw new InvalidArgumentError('modelOutput', `length ${modelOutput.length} does not match sample length ${sample.length}`);
      }
      const out = applyStep(plan(i, sample.length), modelOutput, sample, lastX0);
      lastX0 = out.x0;
      return out;
    },
  };
}
