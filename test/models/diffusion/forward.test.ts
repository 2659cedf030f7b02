import { describe, expect, it } from 'vitest';
import { BETA_SCHEDULES, createRng, createSchedule, qSample, qStep } from '../../../models/diffusion/index.ts';
import { InvalidArgumentError } from '../../../models/errors.ts';
import { moments } from '../../support/gaussian-mixture.ts';

/** Sample moments of x against N(mean, variance) within 5 standard errors (of the mean and of the variance). */
function expectNormalMoments(x: ArrayLike<number>, mean: number, variance: number): void {
  const m = moments(x);
  expect(Math.abs(m.mean - mean)).toBeLessThan(5 * Math.sqrt(variance / x.length));
  expect(Math.abs(m.variance - variance)).toBeLessThan(5 * variance * Math.sqrt(2 / x.length));
}

describe('forward process', () => {
  const n = 40_000;
  const x0 = 1.5;

  // Iterating q(x_t|x_{t-1}) from a point mass gives N(sqrt(ᾱ_t) x0, 1 − ᾱ_t) exactly; the sample moments must land
  // within 5 standard errors (SE of the mean sqrt((1−ᾱ)/n), of the variance (1−ᾱ) sqrt(2/n)).
  for (const kind of BETA_SCHEDULES) {
    it(`iterating the Markov step matches q(x_t|x_0) in mean and variance (${kind})`, () => {
      const schedule = createSchedule({ kind, trainSteps: 1000 });
      const rng = createRng(7);
      let x: Float64Array = new Float64Array(n).fill(x0);
      const checkpoints = new Set([0, 9, 99, 499, 999]);
      for (let t = 0; t < 1000; t++) {
        x = qStep(schedule, x, rng.fill(n), t);
        if (!checkpoints.has(t)) continue;
        const abar = schedule.alphasCumprod[t];
        expectNormalMoments(x, Math.sqrt(abar) * x0, 1 - abar);
      }
    });
  }

  it('qSample is the closed form and agrees with the chain in distribution', () => {
    const schedule = createSchedule({ kind: 'scaled-linear', trainSteps: 1000 });
    const t = 300;
    const xt = qSample(schedule, new Float32Array(n).fill(x0), createRng(3).fill(n), t);
    const abar = schedule.alphasCumprod[t];
    expectNormalMoments(xt, Math.sqrt(abar) * x0, 1 - abar);
  });

  it('rejects out-of-range timesteps and mismatched noise with typed errors', () => {
    const schedule = createSchedule({ kind: 'linear', trainSteps: 10 });
    expect(() => qSample(schedule, [1], [0], 10)).toThrow(InvalidArgumentError);
    expect(() => qSample(schedule, [1], [0], -1)).toThrow(/t: must be an integer in \[0, 9\]/);
    expect(() => qStep(schedule, [1, 2], [0], 0)).toThrow(/noise: length 1 does not match 2/);
  });
});
