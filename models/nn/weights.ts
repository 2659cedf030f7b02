/** Trained parameters by name, in the layouts the ops interface declares (conv [kh, kw, cin, cout], dense [in, out]). */
export interface Weight {
  shape: number[];
  data: Float32Array;
}
export type WeightMap = Map<string, Weight>;

export function weightSize(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** A conv filter [kh, kw, cin, cout] (the ops interface's layout) as [cout, cin, kh, kw] (ONNX Conv's). */
export function filterToOihw(data: Float32Array, shape: readonly number[]): Float32Array {
  const [kh, kw, cin, cout] = shape;
  const out = new Float32Array(data.length);
  for (let a = 0; a < kh; a++)
    for (let b = 0; b < kw; b++)
      for (let c = 0; c < cin; c++)
        for (let o = 0; o < cout; o++) out[((o * cin + c) * kh + a) * kw + b] = data[((a * kw + b) * cin + c) * cout + o];
  return out;
}

/** The inverse of filterToOihw; `shape` is still the [kh, kw, cin, cout] shape. */
export function filterFromOihw(data: Float32Array, shape: readonly number[]): Float32Array {
  const [kh, kw, cin, cout] = shape;
  const out = new Float32Array(data.length);
  for (let a = 0; a < kh; a++)
    for (let b = 0; b < kw; b++)
      for (let c = 0; c < cin; c++)
        for (let o = 0; o < cout; o++) out[((a * kw + b) * cin + c) * cout + o] = data[((o * cin + c) * kh + a) * kw + b];
  return out;
}
