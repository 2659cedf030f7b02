import { requireInteger } from '../errors.ts';

/**
 * Seeded Gaussian noise that is bit-identical in every JavaScript engine.
 *
 * Math.log/Math.cos are not specified to the last bit by ECMAScript, so engines may differ; this module
 * uses only integer ops, +, −, ×, ÷ and Math.sqrt (all exactly rounded under IEEE 754) so a seed gives the
 * same latents, and hence the same image, in Node, browsers and Workers.
 */
export interface GaussianRng {
  /** Next standard normal sample (float64). */
  next(): number;
  /** Fill a new Float32Array with standard normal samples. */
  fill(n: number): Float32Array;
}

/** xoshiro128** state seeded by splitmix32: fast, 2^128-1 period, 32-bit integer arithmetic only. */
function xoshiro128ss(seed: number): () => number {
  let z = seed >>> 0;
  const splitmix = () => {
    z = (z + 0x9e3779b9) | 0;
    let x = z;
    x = Math.imul(x ^ (x >>> 16), 0x21f0aaad);
    x = Math.imul(x ^ (x >>> 15), 0x735a2d97);
    return (x ^ (x >>> 15)) >>> 0;
  };
  let a = splitmix();
  let b = splitmix();
  let c = splitmix();
  let d = splitmix();
  return () => {
    const r = Math.imul(rotl(Math.imul(b, 5), 7), 9) >>> 0;
    const t = b << 9;
    c ^= a;
    d ^= b;
    b ^= c;
    a ^= d;
    c ^= t;
    d = rotl(d, 11);
    return r;
  };
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

const LN2 = Math.LN2;

/** Natural log for x in (0, 1] from basic arithmetic only: x = m·2^e with m in [√½, √2), ln m by the atanh series. */
export function portableLog(x: number): number {
  let e = 0;
  let m = x;
  while (m < Math.SQRT1_2) {
    m *= 2;
    e -= 1;
  }
  while (m >= Math.SQRT2) {
    m /= 2;
    e += 1;
  }
  const z = (m - 1) / (m + 1); // |z| <= 0.1716
  const z2 = z * z;
  // Σ z^(2k+1)/(2k+1), 12 terms: the remainder is below 1e-19, under float64 resolution at this size.
  let term = z;
  let sum = 0;
  for (let k = 0; k < 12; k++) {
    sum += term / (2 * k + 1);
    term *= z2;
  }
  return 2 * sum + e * LN2;
}

/** Uniform doubles in [0, 1) from the same generator: shuffles, dropout masks, timestep draws. */
export function createUniformRng(seed: number): () => number {
  requireInteger('seed', seed, 0, 0xffffffff);
  const u32 = xoshiro128ss(seed);
  return () => ((u32() >>> 5) * 67108864 + (u32() >>> 6)) / 9007199254740992;
}

/** Mix several integers into one uint32 seed (e.g. run seed, epoch, step), order-sensitive. */
export function mixSeed(...parts: number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) {
    h = Math.imul(h ^ (p >>> 0), 0x85ebca6b);
    h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
    h ^= h >>> 16;
  }
  return h >>> 0;
}

export function createRng(seed: number): GaussianRng {
  requireInteger('seed', seed, 0, 0xffffffff);
  const u32 = xoshiro128ss(seed);
  // Uniform in (-1, 1) from 53 random bits.
  const uniform = () => ((u32() >>> 5) * 67108864 + (u32() >>> 6)) / 4503599627370496 - 1;
  let spare: number | undefined;
  const next = () => {
    if (spare !== undefined) {
      const v = spare;
      spare = undefined;
      return v;
    }
    // Marsaglia's polar method: needs ln and sqrt only, never sin/cos.
    for (;;) {
      const u = uniform();
      const v = uniform();
      const s = u * u + v * v;
      if (s >= 1 || s === 0) continue;
      const f = Math.sqrt((-2 * portableLog(s)) / s);
      spare = v * f;
      return u * f;
    }
  };
  return {
    next,
    fill(n: number) {
      requireInteger('n', n, 0);
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = next();
      return out;
    },
  };
}
