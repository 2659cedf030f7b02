import { InvalidArgumentError } from './errors.ts';

/** An RGB image as float32 HWC in [-1, 1]: the networks' pixel format. */
export interface FloatImage {
  width: number;
  height: number;
  data: Float32Array;
}

/** RGBA bytes → RGB in [-1, 1], alpha composited over white (emoji have transparent backgrounds). */
export function rgbaToFloat(rgba: ArrayLike<number>, width: number, height: number): FloatImage {
  if (rgba.length !== width * height * 4)
    throw new InvalidArgumentError('rgba', `expected ${width * height * 4} bytes, got ${rgba.length}`);
  const data = new Float32Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    const a = rgba[i * 4 + 3] / 255;
    for (let c = 0; c < 3; c++) data[i * 3 + c] = ((rgba[i * 4 + c] * a + 255 * (1 - a)) / 255) * 2 - 1;
  }
  return { width, height, data };
}

/** [-1, 1] RGB → opaque RGBA bytes, clamped and rounded. */
export function floatToRgba(img: FloatImage): Uint8ClampedArray {
  const out = new Uint8ClampedArray(img.width * img.height * 4);
  for (let i = 0; i < img.width * img.height; i++) {
    for (let c = 0; c < 3; c++) out[i * 4 + c] = Math.round(((img.data[i * 3 + c] + 1) / 2) * 255);
    out[i * 4 + 3] = 255;
  }
  return out;
}

/** Area-average downscale by an integer factor: exact box filter, no aliasing. */
export function downscale(img: FloatImage, factor: number): FloatImage {
  if (!Number.isInteger(factor) || factor < 1 || img.width % factor || img.height % factor) {
    throw new InvalidArgumentError('factor', `${factor} must be a positive integer dividing ${img.width}x${img.height}`);
  }
  const w = img.width / factor;
  const h = img.height / factor;
  const data = new Float32Array(w * h * 3);
  const norm = 1 / (factor * factor);
  for (let y = 0; y < img.height; y++)
    for (let x = 0; x < img.width; x++)
      for (let c = 0; c < 3; c++)
        data[(Math.floor(y / factor) * w + Math.floor(x / factor)) * 3 + c] += img.data[(y * img.width + x) * 3 + c] * norm;
  return { width: w, height: h, data };
}

/** The size×size square of an image whose top-left corner is (x, y). */
export function cropImage(img: FloatImage, y: number, x: number, size: number): FloatImage {
  if (x < 0 || y < 0 || x + size > img.width || y + size > img.height)
    throw new InvalidArgumentError('crop', `${size}px at (${x}, ${y}) is outside ${img.width}x${img.height}`);
  const data = new Float32Array(size * size * 3);
  for (let r = 0; r < size; r++)
    data.set(img.data.subarray(((y + r) * img.width + x) * 3, ((y + r) * img.width + x + size) * 3), r * size * 3);
  return { width: size, height: size, data };
}

/** Bilinear resize to any size (pixel-centre aligned), for inputs whose size is not a multiple of the target. */
export function resizeBilinear(img: FloatImage, width: number, height: number): FloatImage {
  const data = new Float32Array(width * height * 3);
  const sx = img.width / width;
  const sy = img.height / height;
  for (let y = 0; y < height; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), img.height - 1);
    const y0 = Math.floor(fy);
    const y1 = Math.min(y0 + 1, img.height - 1);
    const wy = fy - y0;
    for (let x = 0; x < width; x++) {
      const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), img.width - 1);
      const x0 = Math.floor(fx);
      const x1 = Math.min(x0 + 1, img.width - 1);
      const wx = fx - x0;
      for (let c = 0; c < 3; c++) {
        const p = (yy: number, xx: number) => img.data[(yy * img.width + xx) * 3 + c];
        data[(y * width + x) * 3 + c] = (1 - wy) * ((1 - wx) * p(y0, x0) + wx * p(y0, x1)) + wy * ((1 - wx) * p(y1, x0) + wx * p(y1, x1));
      }
    }
  }
  return { width, height, data };
}

/** Bicubic (Catmull-Rom, a = -0.5) upscaling: the baseline the learned upscaler has to beat. */
export function resizeBicubic(img: FloatImage, width: number, height: number): FloatImage {
  // The kernel is separable: a horizontal then a vertical 4-tap pass with precomputed taps (16× fewer kernel
  // evaluations than the 2-D sum, which matters when the upscaler's training computes it every step).
  const cols = cubicTaps(img.width, width);
  const rows = cubicTaps(img.height, height);
  const horizontal = new Float32Array(img.height * width * 3);
  for (let y = 0; y < img.height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < 3; c++) {
        let acc = 0;
        for (let k = 0; k < 4; k++) acc += cols.weight[x * 4 + k] * img.data[(y * img.width + cols.index[x * 4 + k]) * 3 + c];
        horizontal[(y * width + x) * 3 + c] = acc;
      }
  const data = new Float32Array(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < 3; c++) {
        let acc = 0;
        for (let k = 0; k < 4; k++) acc += rows.weight[y * 4 + k] * horizontal[(rows.index[y * 4 + k] * width + x) * 3 + c];
        data[(y * width + x) * 3 + c] = acc;
      }
  return { width, height, data };
}

/** The 4 source indices (clamped at the border) and Catmull-Rom weights of each output position. */
function cubicTaps(from: number, to: number): { index: Int32Array; weight: Float64Array } {
  const cubic = (t: number) => {
    const a = -0.5;
    const x = Math.abs(t);
    if (x <= 1) return (a + 2) * x ** 3 - (a + 3) * x ** 2 + 1;
    if (x < 2) return a * x ** 3 - 5 * a * x ** 2 + 8 * a * x - 4 * a;
    return 0;
  };
  const index = new Int32Array(to * 4);
  const weight = new Float64Array(to * 4);
  for (let o = 0; o < to; o++) {
    const f = (o + 0.5) * (from / to) - 0.5;
    const i0 = Math.floor(f);
    for (let k = 0; k < 4; k++) {
      index[o * 4 + k] = Math.min(Math.max(i0 - 1 + k, 0), from - 1);
      weight[o * 4 + k] = cubic(f - (i0 - 1 + k));
    }
  }
  return { index, weight };
}
