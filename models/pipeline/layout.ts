/** NCHW ↔ NHWC for [N, C, H, W] data: tfjs computes in NHWC, exported graphs take NCHW. */
export function nchwToNhwc(data: ArrayLike<number>, dims: readonly number[]): Float32Array {
  const [n, c, h, w] = dims;
  const out = new Float32Array(data.length);
  for (let b = 0; b < n; b++)
    for (let ch = 0; ch < c; ch++)
      for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) out[((b * h + y) * w + x) * c + ch] = data[((b * c + ch) * h + y) * w + x];
  return out;
}

export function nhwcToNchw(data: ArrayLike<number>, dims: readonly number[]): Float32Array {
  const [n, h, w, c] = dims;
  const out = new Float32Array(data.length);
  for (let b = 0; b < n; b++)
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) for (let ch = 0; ch < c; ch++) out[((b * c + ch) * h + y) * w + x] = data[((b * h + y) * w + x) * c + ch];
  return out;
}

/** Split an NCHW batch into per-item HWC float images. */
export function batchToImages(data: Float32Array, dims: readonly number[]): { width: number; height: number; data: Float32Array }[] {
  const [n, c, h, w] = dims;
  const hwc = nchwToNhwc(data, dims);
  return Array.from({ length: n }, (_, b) => ({ width: w, height: h, data: hwc.slice(b * h * w * c, (b + 1) * h * w * c) }));
}

/** Stack same-size HWC float images into one NCHW batch (the inverse of batchToImages). */
export function imagesToBatch(images: readonly { width: number; height: number; data: Float32Array }[]): {
  data: Float32Array;
  dims: number[];
} {
  const { width: w, height: h } = images[0];
  const c = images[0].data.length / (w * h);
  const hwc = new Float32Array(images.length * w * h * c);
  images.forEach((im, i) => hwc.set(im.data, i * w * h * c));
  return { data: nhwcToNchw(hwc, [images.length, h, w, c]), dims: [images.length, c, h, w] };
}

/** Two batches stacked along the first axis: [uncond; cond] for one guided network call. */
export function concatBatch(
  a: { data: Float32Array; dims: readonly number[] },
  b: { data: Float32Array; dims: readonly number[] },
): {
  data: Float32Array;
  dims: number[];
} {
  const data = new Float32Array(a.data.length + b.data.length);
  data.set(a.data);
  data.set(b.data, a.data.length);
  return { data, dims: [a.dims[0] + b.dims[0], ...a.dims.slice(1)] };
}
