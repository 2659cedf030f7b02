import { InvalidArgumentError, requireInRange, requireInteger } from '../errors.ts';

export interface GuidanceOptions {
  /** Guidance scale s: 1 returns the conditional prediction, 0 the unconditional one. */
  scale: number;
  /** Guidance rescale φ in [0, 1] (Lin et al. §3.4): pulls each item's std back towards the conditional one. */
  rescale?: number;
  /** Number of independent items in the arrays; std for rescaling is taken per item. */
  batch?: number;
}

/**
 * Classifier-free guidance: uncond + s·(cond − uncond), optionally rescaled. Evaluated as
 * cond + (s − 1)·(cond − uncond) so that s = 1 returns the conditional prediction bit for bit.
 */
export function classifierFreeGuidance(uncond: ArrayLike<number>, cond: ArrayLike<number>, options: GuidanceOptions): Float32Array {
  if (uncond.length !== cond.length) {
    throw new InvalidArgumentError('cond', `length ${cond.length} does not match uncond length ${uncond.length}`);
  }
  const scale = requireInRange('guidance.scale', options.scale, -100, 100);
  const rescale = requireInRange('guidance.rescale', options.rescale ?? 0, 0, 1);
  const batch = requireInteger('guidance.batch', options.batch ?? 1, 1);
  if (cond.length % batch !== 0) throw new InvalidArgumentError('guidance.batch', `${batch} does not divide length ${cond.length}`);
  const out = new Float32Array(cond.length);
  for (let i = 0; i < out.length; i++) out[i] = cond[i] + (scale - 1) * (cond[i] - uncond[i]);
  if (rescale === 0) return out;
  const size = cond.length / batch;
  for (let b = 0; b < batch; b++) {
    const lo = b * size;
    const hi = lo + size;
    const factor = std(cond, lo, hi) / Math.max(std(out, lo, hi), 1e-12);
    for (let i = lo; i < hi; i++) out[i] = rescale * out[i] * factor + (1 - rescale) * out[i];
  }
  return out;
}

function std(x: ArrayLike<number>, lo: number, hi: number): number {
  let mean = 0;
  for (let i = lo; i < hi; i++) mean += x[i];
  mean /= hi - lo;
  let v = 0;
  for (let i = lo; i < hi; i++) v += (x[i] - mean) ** 2;
  return Math.sqrt(v / (hi - lo));
}
