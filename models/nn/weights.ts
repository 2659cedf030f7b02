/** Trained parameters by name, in the layouts the ops interface declares (conv [kh, kw, cin, cout], dense [in, out]). */
export interface Weight {
  shape: number[];
  data: Float32Array;
}
export type WeightMap = Map<string, Weight>;

export function weightSize(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
