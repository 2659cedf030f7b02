import { describe, expect, it } from 'vitest';
import { createRng } from '../../models/diffusion/rng.ts';
import { frechetDistance } from '../../trainer/report/frechet.ts';

const gaussian = (seed: number, n: number, d: number, shift: number[] = [], scale = 1) => {
  const rng = createRng(seed);
  return Array.from({ length: n }, () => rng.fill(d).map((v, i) => scale * v + (shift[i] ?? 0)));
};

describe('Fréchet distance', () => {
  it('is 0 for a set against itself', () => {
    const a = gaussian(1, 300, 4);
    expect(frechetDistance(a, a)).toBeCloseTo(0, 6);
  });

  it('is ‖Δμ‖² for the same points shifted (covariances equal)', () => {
    const a = gaussian(2, 300, 4);
    const shift = [1, -2, 0.5, 0];
    const b = a.map((r) => r.map((v, i) => v + shift[i]));
    expect(frechetDistance(a, b)).toBeCloseTo(1 + 4 + 0.25, 4);
  });

  it('matches the closed form for isotropic Gaussians of different scale: d·(σ₁ − σ₂)²', () => {
    // Large samples of N(0, I) and N(0, 4I) in 3-D: 3·(1 − 2)² = 3, within sampling error.
    const a = gaussian(3, 20_000, 3);
    const b = gaussian(4, 20_000, 3, [], 2);
    expect(frechetDistance(a, b)).toBeCloseTo(3, 1);
  });
});
