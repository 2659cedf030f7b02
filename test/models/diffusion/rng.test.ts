import fc from 'fast-check';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Miniflare } from 'miniflare';
import { createRng, portableLog } from '../../../models/diffusion/rng.ts';
import { InvalidArgumentError } from '../../../models/errors.ts';
import { moments, normalCdf } from '../../support/gaussian-mixture.ts';
import { startWorker } from '../../support/workerd.ts';

describe('seeded Gaussian RNG', () => {
  it('is standard normal: moments and a Kolmogorov–Smirnov test', () => {
    const n = 100_000;
    const x = createRng(42).fill(n);
    const { mean, variance } = moments(x);
    expect(Math.abs(mean)).toBeLessThan(5 / Math.sqrt(n));
    expect(Math.abs(variance - 1)).toBeLessThan(5 * Math.sqrt(2 / n));
    const sorted = Float64Array.from(x).sort();
    let d = 0;
    sorted.forEach((v, i) => (d = Math.max(d, Math.abs(normalCdf(v) - (i + 0.5) / n))));
    // KS critical value at α = 0.001 is 1.95/sqrt(n).
    expect(d).toBeLessThan(1.95 / Math.sqrt(n));
  });

  it('same seed, same stream; different seeds, uncorrelated streams', () => {
    expect(Array.from(createRng(9).fill(64))).toEqual(Array.from(createRng(9).fill(64)));
    const a = createRng(1).fill(20_000);
    const b = createRng(2).fill(20_000);
    let dot = 0;
    a.forEach((v, i) => (dot += v * b[i]));
    expect(Math.abs(dot / a.length)).toBeLessThan(5 / Math.sqrt(a.length));
  });

  it('portableLog matches Math.log to within 2 ulp on (0, 1]', () => {
    fc.assert(
      fc.property(fc.double({ min: Number.MIN_VALUE, max: 1, noNaN: true }), (x) => {
        const expected = Math.log(x);
        expect(Math.abs(portableLog(x) - expected)).toBeLessThanOrEqual(4.5e-16 * Math.max(1, Math.abs(expected)));
      }),
      { numRuns: 5000 },
    );
  });

  it('rejects seeds outside uint32', () => {
    expect(() => createRng(-1)).toThrow(InvalidArgumentError);
    expect(() => createRng(1.5)).toThrow(/seed: must be an integer in \[0, 4294967295\]/);
  });

  describe('inside workerd (the Workers runtime)', () => {
    let worker: Miniflare;
    beforeAll(async () => {
      worker = await startWorker(fileURLToPath(new URL('../../support/rng-worker.ts', import.meta.url)));
    });
    afterAll(() => worker?.dispose());

    for (const seed of [0, 1, 123456789, 0xffffffff]) {
      it(`seed ${seed}: the first 4096 values are bit-identical to Node`, async () => {
        const res = await worker.dispatchFetch(`http://worker/?seed=${seed}&n=4096`);
        const fromWorker = new Float64Array(await res.arrayBuffer());
        const rng = createRng(seed);
        const fromNode = Float64Array.from({ length: 4096 }, () => rng.next());
        expect(new Uint8Array(fromWorker.buffer)).toEqual(new Uint8Array(fromNode.buffer));
      });
    }
  });
});
