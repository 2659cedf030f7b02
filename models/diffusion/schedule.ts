import { InvalidArgumentError, requireInteger, requireOneOf } from '../errors.ts';

export const BETA_SCHEDULES = ['linear', 'scaled-linear', 'cosine'] as const;
export type BetaScheduleKind = (typeof BETA_SCHEDULES)[number];

export interface ScheduleConfig {
  kind: BetaScheduleKind;
  /** Number of discrete training timesteps T; timesteps are 0..T-1. */
  trainSteps: number;
  betaStart?: number;
  betaEnd?: number;
  /** Rescale so that the last timestep has SNR exactly 0 (Lin et al. 2023, "Common diffusion noise schedules are flawed"). */
  zeroTerminalSnr?: boolean;
}

/** Everything samplers and the forward process need, precomputed once in float64. */
export interface NoiseSchedule {
  readonly config: Required<ScheduleConfig>;
  readonly betas: Float64Array;
  readonly alphas: Float64Array;
  /** ᾱ_t = Π_{s≤t} α_s. */
  readonly alphasCumprod: Float64Array;
}

const DEFAULT_BETAS: Record<BetaScheduleKind, [number, number]> = {
  linear: [1e-4, 0.02],
  'scaled-linear': [0.00085, 0.012],
  cosine: [0, 0.999], // cosine has no start; end is the clip value
};

export function createSchedule(config: ScheduleConfig): NoiseSchedule {
  const kind = requireOneOf('schedule.kind', config.kind, BETA_SCHEDULES);
  const T = requireInteger('schedule.trainSteps', config.trainSteps, 2);
  const [defStart, defEnd] = DEFAULT_BETAS[kind];
  const betaStart = config.betaStart ?? defStart;
  const betaEnd = config.betaEnd ?? defEnd;
  if (kind !== 'cosine' && !(betaStart > 0 && betaStart <= betaEnd && betaEnd < 1)) {
    throw new InvalidArgumentError('schedule.betaStart', `need 0 < betaStart <= betaEnd < 1, got ${betaStart}, ${betaEnd}`);
  }
  let betas: Float64Array = new Float64Array(T);
  if (kind === 'linear') {
    // Scaled by 1000/T so that the total noise level does not depend on T (as in improved DDPM).
    const scale = 1000 / T;
    for (let i = 0; i < T; i++) betas[i] = scale * (betaStart + ((betaEnd - betaStart) * i) / (T - 1));
    for (let i = 0; i < T; i++) betas[i] = Math.min(betas[i], 0.999);
  } else if (kind === 'scaled-linear') {
    const a = Math.sqrt(betaStart);
    const b = Math.sqrt(betaEnd);
    for (let i = 0; i < T; i++) betas[i] = (a + ((b - a) * i) / (T - 1)) ** 2;
  } else {
    const s = 0.008;
    const f = (t: number) => Math.cos(((t / T + s) / (1 + s)) * (Math.PI / 2)) ** 2;
    for (let i = 0; i < T; i++) betas[i] = Math.min(1 - f(i + 1) / f(i), betaEnd);
  }
  const zeroTerminalSnr = config.zeroTerminalSnr ?? false;
  if (zeroTerminalSnr) betas = rescaleZeroTerminalSnr(betas);
  const alphas = betas.map((b) => 1 - b);
  const alphasCumprod = new Float64Array(T);
  let acc = 1;
  for (let i = 0; i < T; i++) alphasCumprod[i] = acc *= alphas[i];
  return { config: { kind, trainSteps: T, betaStart, betaEnd, zeroTerminalSnr }, betas, alphas, alphasCumprod };
}

/** Algorithm 1 of Lin et al.: shift and scale sqrt(ᾱ) so the first value is kept and the last is 0. */
export function rescaleZeroTerminalSnr(betas: Float64Array): Float64Array {
  const T = betas.length;
  const sqrtAbar = new Float64Array(T);
  let acc = 1;
  for (let i = 0; i < T; i++) {
    acc *= 1 - betas[i];
    sqrtAbar[i] = Math.sqrt(acc);
  }
  const first = sqrtAbar[0];
  const last = sqrtAbar[T - 1];
  for (let i = 0; i < T; i++) sqrtAbar[i] = ((sqrtAbar[i] - last) * first) / (first - last);
  const out = new Float64Array(T);
  let prev = 1;
  for (let i = 0; i < T; i++) {
    const abar = sqrtAbar[i] ** 2;
    out[i] = 1 - abar / prev;
    prev = abar;
  }
  return out;
}

/** ᾱ at a timestep; t = -1 means "before any noise" (ᾱ = 1), which samplers use as their final target. */
export function alphaBarAt(schedule: NoiseSchedule, t: number): number {
  return t < 0 ? 1 : schedule.alphasCumprod[t];
}

/** Signal-to-noise ratio ᾱ/(1-ᾱ) at each timestep. */
export function snr(schedule: NoiseSchedule): Float64Array {
  return schedule.alphasCumprod.map((a) => a / (1 - a));
}
