import { createRng, createSchedule, SAMPLER_NAMES } from '../../models/diffusion/index.ts';
import { sampleMixture, sampleWithExactDenoiser, TEST_MIXTURE, wasserstein1ToMixture } from '../support/gaussian-mixture.ts';
import type { BenchArgs } from './args.ts';

/**
 * Sampler quality: each sampler driven by the exact denoiser of a 1-D Gaussian mixture, distance (W1 to the
 * true CDF) after each number of model evaluations. The exact-draw row is the floor set by sample size alone.
 */
export async function samplerBench(args: BenchArgs): Promise<unknown> {
  const samples = args.int('samples', 10_000);
  const seed = args.int('seed', 1);
  const schedule = createSchedule({ kind: 'cosine', trainSteps: 1000 });
  const nfes = [5, 10, 20, 50, 100, 1000];
  const rows = SAMPLER_NAMES.map((sampler) => {
    const distance: Record<string, number> = {};
    const ms: Record<string, number> = {};
    for (const nfe of nfes) {
      const t0 = performance.now();
      distance[nfe] = wasserstein1ToMixture(TEST_MIXTURE, sampleWithExactDenoiser(sampler, schedule, nfe, samples, seed));
      ms[nfe] = performance.now() - t0;
      args.progress(`${sampler} nfe=${nfe} w1=${distance[nfe].toFixed(4)}`);
    }
    return { sampler, w1: distance, ms };
  });
  const floor = wasserstein1ToMixture(TEST_MIXTURE, sampleMixture(TEST_MIXTURE, samples, createRng(seed)));
  const w1At = (name: string, nfe: number) => rows.find((r) => r.sampler === name)!.w1[nfe];
  return {
    bench: 'sampler',
    distribution: TEST_MIXTURE,
    schedule: schedule.config,
    samples,
    seed,
    metric: 'wasserstein-1 to the true CDF (lower is better)',
    exactDrawFloor: floor,
    samplers: rows,
    ratios: {
      'dpmpp-2m@20 / ddim@20': w1At('dpmpp-2m', 20) / w1At('ddim', 20),
      'dpmpp-2m@20 / ddpm@1000': w1At('dpmpp-2m', 20) / w1At('ddpm', 1000),
    },
  };
}
