import { requireInRange, requireInteger, requireOneOf } from '../../errors.ts';
import { PREDICTION_TYPES } from '../prediction.ts';
import type { NoiseSchedule } from '../schedule.ts';
import { ddim } from './ddim.ts';
import { ddpm } from './ddpm.ts';
import { dpmpp2m } from './dpmpp-2m.ts';
import { eulerAncestral } from './euler-ancestral.ts';
import { inferenceTimesteps } from './timesteps.ts';
import { SAMPLER_NAMES, TIMESTEP_SPACINGS, type SamplerContext, type SamplerName, type SamplerOptions, type SamplerRun } from './types.ts';

export * from './types.ts';
export { inferenceTimesteps } from './timesteps.ts';
export { applyStep } from './common.ts';

const FACTORIES: Record<SamplerName, (ctx: SamplerContext) => SamplerRun> = {
  ddpm,
  ddim,
  'dpmpp-2m': dpmpp2m,
  'euler-a': eulerAncestral,
};

export function parseSamplerName(name: string): SamplerName {
  return requireOneOf('sampler', name, SAMPLER_NAMES);
}

export function createSampler(name: string, schedule: NoiseSchedule, options: SamplerOptions): SamplerRun {
  const sampler = parseSamplerName(name);
  const steps = requireInteger('steps', options.steps, 1, schedule.config.trainSteps);
  const spacing = requireOneOf('spacing', options.spacing ?? 'trailing', TIMESTEP_SPACINGS);
  const predictionType = requireOneOf('predictionType', options.predictionType, PREDICTION_TYPES);
  const eta = requireInRange('eta', options.eta ?? 0, 0, 1);
  const timesteps = inferenceTimesteps(schedule.config.trainSteps, steps, spacing);
  return FACTORIES[sampler]({ schedule, timesteps, options: { steps, spacing, predictionType, eta, rng: options.rng } });
}

/**
 * img2img: with strength s the run starts at step index N - floor(N·s), so s = 1 is plain text-to-image
 * and s = 0 returns the init image untouched. The init latents are noised to `timestep` with qSample.
 */
export function img2imgStart(timesteps: readonly number[], strength: number): { startIndex: number; timestep: number | undefined } {
  requireInRange('strength', strength, 0, 1);
  const n = timesteps.length;
  const startIndex = n - Math.min(Math.floor(n * strength), n);
  return { startIndex, timestep: timesteps[startIndex] };
}
