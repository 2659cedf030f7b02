import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { classifierFreeGuidance } from '../../../models/diffusion/index.ts';
import { InvalidArgumentError } from '../../../models/errors.ts';

const vec = (n: number) => fc.array(fc.float({ min: -5, max: 5, noNaN: true }), { minLength: n, maxLength: n });
const pair = fc.integer({ min: 1, max: 64 }).chain((n) => fc.tuple(vec(n), vec(n)));

describe('classifier-free guidance', () => {
  it('scale 1 gives the conditional prediction and scale 0 the unconditional one', () => {
    fc.assert(
      fc.property(pair, ([u, c]) => {
        // === rather than toEqual: −0 and +0 are the same prediction.
        const g = classifierFreeGuidance(u, c, { scale: 1 });
        expect(g.every((v, i) => v === Math.fround(c[i]))).toBe(true);
        classifierFreeGuidance(u, c, { scale: 0 }).forEach((v, i) => expect(v).toBeCloseTo(u[i], 5));
      }),
    );
  });

  it('is affine in the scale: g(s) = u + s(c − u)', () => {
    fc.assert(
      fc.property(pair, fc.double({ min: -10, max: 10, noNaN: true }), ([u, c], s) => {
        const g = classifierFreeGuidance(u, c, { scale: s });
        g.forEach((v, i) => expect(v).toBeCloseTo(u[i] + s * (c[i] - u[i]), 3));
      }),
    );
  });

  it('rescale 1 restores the conditional std per batch item; rescale 0 is plain CFG', () => {
    const u = [0, 1, 2, 3, 10, 10, 10, 11];
    const c = [1, 1, 3, 3, 9, 12, 9, 12];
    const plain = classifierFreeGuidance(u, c, { scale: 7, batch: 2 });
    expect(Array.from(classifierFreeGuidance(u, c, { scale: 7, rescale: 0, batch: 2 }))).toEqual(Array.from(plain));
    const full = classifierFreeGuidance(u, c, { scale: 7, rescale: 1, batch: 2 });
    const std = (x: ArrayLike<number>) => {
      const a = Array.from(x);
      const m = a.reduce((p, q) => p + q, 0) / a.length;
      return Math.sqrt(a.reduce((p, q) => p + (q - m) ** 2, 0) / a.length);
    };
    expect(std(full.slice(0, 4))).toBeCloseTo(std(c.slice(0, 4)), 5);
    expect(std(full.slice(4))).toBeCloseTo(std(c.slice(4)), 5);
  });

  it('bad input throws typed errors', () => {
    expect(() => classifierFreeGuidance([1], [1, 2], { scale: 2 })).toThrow(InvalidArgumentError);
    expect(() => classifierFreeGuidance([1], [1], { scale: Number.NaN })).toThrow(/guidance.scale/);
    expect(() => classifierFreeGuidance([1], [1], { scale: 2, rescale: 1.5 })).toThrow(/guidance.rescale: must be a number in \[0, 1\]/);
    expect(() => classifierFreeGuidance([1, 2, 3], [1, 2, 3], { scale: 2, rescale: 0.5, batch: 2 })).toThrow(/does not divide/);
  });
});
