import { describe, expect, it } from 'vitest';
import { createRng } from '../../models/diffusion/rng.ts';
import { downscale, resizeBicubic, type FloatImage } from '../../models/image.ts';

function randomImage(width: number, height: number, seed: number): FloatImage {
  return {
    width,
    height,
    data: createRng(seed)
      .fill(width * height * 3)
      .map((v) => Math.tanh(v)),
  };
}

/** The textbook 2-D Catmull-Rom sum over 16 clamped neighbours, as a reference for the separable version. */
function bicubicReference(img: FloatImage, width: number, height: number): Float32Array {
  const cubic = (t: number) => {
    const x = Math.abs(t);
    return x <= 1 ? 1.5 * x ** 3 - 2.5 * x ** 2 + 1 : x < 2 ? -0.5 * x ** 3 + 2.5 * x ** 2 - 4 * x + 2 : 0;
  };
  const clamp = (v: number, n: number) => Math.min(Math.max(v, 0), n - 1);
  const out = new Float32Array(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const fy = (y + 0.5) * (img.height / height) - 0.5;
      const fx = (x + 0.5) * (img.width / width) - 0.5;
      for (let c = 0; c < 3; c++) {
        let acc = 0;
        for (let j = Math.floor(fy) - 1; j <= Math.floor(fy) + 2; j++)
          for (let i = Math.floor(fx) - 1; i <= Math.floor(fx) + 2; i++)
            acc += cubic(fy - j) * cubic(fx - i) * img.data[(clamp(j, img.height) * img.width + clamp(i, img.width)) * 3 + c];
        out[(y * width + x) * 3 + c] = acc;
      }
    }
  return out;
}

describe('resizeBicubic (separable Catmull-Rom)', () => {
  it('equals the 2-D 16-tap sum, for 2× and non-integer scales', () => {
    for (const [w, h, W, H] of [
      [5, 4, 10, 8],
      [7, 3, 11, 13],
      [8, 8, 16, 16],
    ]) {
      const img = randomImage(w, h, w * h);
      const ref = bicubicReference(img, W, H);
      resizeBicubic(img, W, H).data.forEach((v, i) => expect(v).toBeCloseTo(ref[i], 5));
    }
  });

  it('keeps a constant image constant and reproduces a linear ramp away from the clamped border', () => {
    const flat = { width: 6, height: 6, data: new Float32Array(6 * 6 * 3).fill(0.3) };
    for (const v of resizeBicubic(flat, 12, 12).data) expect(v).toBeCloseTo(0.3, 6);
    const ramp = { width: 8, height: 8, data: Float32Array.from({ length: 8 * 8 * 3 }, (_, i) => 0.1 * (Math.floor(i / 3) % 8)) };
    const up = resizeBicubic(ramp, 16, 16);
    // Output column x samples source position (x + 0.5)/2 − 0.5; with two neighbours each side it is exact.
    for (let y = 0; y < 16; y++) for (let x = 4; x < 12; x++) expect(up.data[(y * 16 + x) * 3]).toBeCloseTo(0.1 * ((x + 0.5) / 2 - 0.5), 5);
  });

  it('after an exact 2× box downscale, is closer to the original than nearest-neighbour on smooth content', () => {
    const smooth = {
      width: 32,
      height: 32,
      data: Float32Array.from({ length: 32 * 32 * 3 }, (_, i) => Math.sin((Math.floor(i / 3) % 32) / 5) * Math.cos(Math.floor(i / 96) / 7)),
    };
    const low = downscale(smooth, 2);
    const err = (data: ArrayLike<number>) =>
      Math.sqrt(Array.from(data).reduce((s, v, i) => s + (v - smooth.data[i]) ** 2, 0) / data.length);
    const nearest = Float32Array.from(smooth.data, (_, i) => {
      const p = Math.floor(i / 3);
      return low.data[(Math.floor(p / 64) * 16 + Math.floor((p % 32) / 2)) * 3 + (i % 3)];
    });
    expect(err(resizeBicubic(low, 32, 32).data)).toBeLessThan(0.5 * err(nearest));
  });
});
