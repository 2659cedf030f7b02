import type { SamplerContext, SamplerRun } from './types.ts';
import { beginStep, requireRng } from './common.ts';

/** DDIM (Song et al.): deterministic for eta = 0, adds posterior-scaled noise for eta > 0. */
export function ddim(ctx: SamplerContext): SamplerRun {
  const eta = ctx.options.eta;
  const rng = eta > 0 ? requireRng(ctx, 'ddim with eta > 0') : undefined;
  return {
    name: 'ddim',
    timesteps: ctx.timesteps,
    step(i, modelOutput, sample) {
      const { abar, abarPrev, x0, eps } = beginStep(ctx, i, modelOutput, sample);
      const sigma = eta * Math.sqrt(((1 - abarPrev) / (1 - abar)) * (1 - abar / abarPrev));
      const dirCoef = Math.sqrt(Math.max(1 - abarPrev - sigma * sigma, 0));
      const a = Math.sqrt(abarPrev);
      const out = new Float32Array(sample.length);
      for (let j = 0; j < out.length; j++) out[j] = a * x0[j] + dirCoef * eps[j] + (rng ? sigma * rng.next() : 0);
      return { prev: out, x0: Float32Array.from(x0) };
    },
  };
}
