import type { SamplerContext, SamplerRun } from './types.ts';
import { linearRun, requireRng } from './common.ts';

/** Ancestral sampling from the true posterior q(x_prev | x_t, x₀), with x₀ from the model (Ho et al.). */
export function ddpm(ctx: SamplerContext): SamplerRun {
  return linearRun(
    ctx,
    'ddpm',
    (_i, { abar, abarPrev, x0, last }) => {
      const beta = 1 - abar / abarPrev; // effective β over a possibly skipped interval
      const cX0 = (Math.sqrt(abarPrev) * beta) / (1 - abar);
      const cXt = (Math.sqrt(1 - beta) * (1 - abarPrev)) / (1 - abar);
      const std = Math.sqrt(((1 - abarPrev) / (1 - abar)) * beta);
      return { prev: { x: cX0 * x0.x + cXt, m: cX0 * x0.m, x0Prev: 0, noise: last ? 0 : std }, drawsNoise: !last };
    },
    requireRng(ctx, 'ddpm'),
  );
}
