import type { SamplerContext, SamplerRun } from './types.ts';
import { linearRun, requireRng } from './common.ts';

/** DDIM (Song et al.): deterministic for eta = 0, adds posterior-scaled noise for eta > 0. */
export function ddim(ctx: SamplerContext): SamplerRun {
  const eta = ctx.options.eta;
  const rng = eta > 0 ? requireRng(ctx, 'ddim with eta > 0') : undefined;
  return linearRun(
    ctx,
    'ddim',
    (_i, { abar, abarPrev, x0, eps }) => {
      // prev = sqrt(ᾱ′)·x̂₀ + sqrt(1 − ᾱ′ − σ²)·ε̂ + σ·n
      const sigma = eta * Math.sqrt(((1 - abarPrev) / (1 - abar)) * (1 - abar / abarPrev));
      const dirCoef = Math.sqrt(Math.max(1 - abarPrev - sigma * sigma, 0));
      const a = Math.sqrt(abarPrev);
      return {
        prev: { x: a * x0.x + dirCoef * eps.x, m: a * x0.m + dirCoef * eps.m, x0Prev: 0, noise: sigma },
        drawsNoise: rng !== undefined,
      };
    },
    rng,
  );
}
