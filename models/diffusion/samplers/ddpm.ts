import type { SamplerContext, SamplerRun } from './types.ts';
import { beginStep, requireRng } from './common.ts';

/** Ancestral sampling from the true posterior q(x_prev | x_t, x₀), with x₀ from the model (Ho et al.). */
export function ddpm(ctx: SamplerContext): SamplerRun {
  const rng = requireRng(ctx, 'ddpm');
  return {
    name: 'ddpm',
    timesteps: ctx.timesteps,
    step(i, modelOutput, sample) {
      const { abar, abarPrev, x0, last } = beginStep(ctx, i, modelOutput, sample);
      const beta = 1 - abar / abarPrev; // effective β over a possibly skipped interval
      const cX0 = (Math.sqrt(abarPrev) * beta) / (1 - abar);
      const cXt = (Math.sqrt(1 - beta) * (1 - abarPrev)) / (1 - abar);
      const std = Math.sqrt(((1 - abarPrev) / (1 - abar)) * beta);
      const out = new Float32Array(sample.length);
      for (let j = 0; j < out.length; j++) out[j] = cX0 * x0[j] + cXt * sample[j] + (last ? 0 : std * rng.next());
      return { prev: out, x0: Float32Array.from(x0) };
    },
  };
}
