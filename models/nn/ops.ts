/**
 * The small tensor-ops interface every network is written against. Two back ends implement it: tfjs
 * (executes and differentiates, for training) and the ONNX graph builder (records nodes, for export).
 *
 * Conventions, which both back ends honour:
 * - Image tensors are logically NHWC: [N, H, W, C]. The ONNX builder stores them as NCHW and converts.
 * - Sequence tensors are [N, T, D]; vectors are [N, D]. Linear algebra acts on the last axis.
 * - The first axis is always the (dynamic) batch; `reshape` keeps it and takes the remaining shape.
 * - Parameters are declared with tfjs layouts: conv filters [kh, kw, cin, cout], dense weights [in, out].
 */
export type ParamInit =
  | { kind: 'zeros' }
  | { kind: 'ones' }
  | { kind: 'fill'; value: number }
  | { kind: 'normal'; std: number }
  /** Normal with the variance of U(−1/√fanIn, 1/√fanIn), PyTorch's default for conv and linear layers. */
  | { kind: 'fan-in'; fanIn: number };

/** GELU(x) ≈ ½x(1 + tanh(inner·(x + cube·x³))). */
export const GELU_TANH = { inner: Math.sqrt(2 / Math.PI), cube: 0.044715 } as const;

type Elementwise<T> = Pick<Ops<T>, 'add' | 'mul' | 'scale' | 'addScalar' | 'sigmoid' | 'tanh'>;

/**
 * SiLU from primitives, with the intermediate its closed-form gradient reuses. Back ends without a fused
 * kernel run this, so they all compute the same formula.
 */
export function siluParts<T>(ops: Elementwise<T>, x: T): { y: T; sigmoid: T } {
  const sigmoid = ops.sigmoid(x);
  return { y: ops.mul(x, sigmoid), sigmoid };
}

/** GELU (`GELU_TANH`) from primitives, with the intermediates its closed-form gradient reuses: x² and the tanh. */
export function geluParts<T>(ops: Elementwise<T>, x: T): { y: T; square: T; tanh: T } {
  const square = ops.mul(x, x);
  const tanh = ops.tanh(ops.scale(ops.add(x, ops.scale(ops.mul(square, x), GELU_TANH.cube)), GELU_TANH.inner));
  return { y: ops.mul(ops.scale(x, 0.5), ops.addScalar(tanh, 1)), square, tanh };
}

export interface ConvOptions {
  stride?: number;
  /** Explicit zero padding [top, bottom, left, right]; ONNX and tfjs then agree exactly. */
  pad: [number, number, number, number];
}

export interface Ops<T> {
  readonly backend: 'tfjs' | 'onnx';
  /** A learned parameter, created on first use (tfjs) or read from the exported weights (onnx). */
  param(name: string, shape: number[], init: ParamInit): T;
  constant(values: Float32Array, shape: number[]): T;
  /** Static shape; the batch axis may be -1 (dynamic) in the ONNX builder. */
  shape(x: T): number[];

  add(a: T, b: T): T;
  sub(a: T, b: T): T;
  mul(a: T, b: T): T;
  div(a: T, b: T): T;
  scale(x: T, s: number): T;
  addScalar(x: T, s: number): T;
  sigmoid(x: T): T;
  tanh(x: T): T;
  /** x·σ(x). A primitive, not a composite, so the training graph can use its closed-form gradient. */
  silu(x: T): T;
  /** GELU, tanh approximation (`GELU_TANH`; ONNX opset 17 has no Gelu op, so every back end runs this formula). */
  gelu(x: T): T;
  sin(x: T): T;
  cos(x: T): T;
  exp(x: T): T;
  sqrt(x: T): T;
  abs(x: T): T;
  /** Elementwise clamp to [lo, hi]; the gradient is zero outside. */
  clip(x: T, lo: number, hi: number): T;

  /** x[..., in] · w[in, out] (+ b[out]). */
  linear(x: T, w: T, b?: T): T;
  /** Batched a · b (or a · bᵀ), broadcasting over leading axes. */
  matmul(a: T, b: T, transposeB?: boolean): T;
  softmax(x: T): T;
  logSoftmax(x: T): T;
  layerNorm(x: T, gamma: T, beta: T, eps: number): T;
  /** Sum over the given axis, dropping it. */
  sum(x: T, axis: number): T;
  /** Mean of every element, batch included: a scalar (the training losses). */
  meanAll(x: T): T;

  reshape(x: T, tail: number[]): T;
  transpose(x: T, perm: number[]): T;
  concat(xs: T[], axis: number): T;
  /** x[:, index] along axis 1, dropping that axis: [N, T, D] → [N, D]. */
  selectIndex(x: T, index: number): T;

  conv2d(x: T, w: T, b: T | undefined, options: ConvOptions): T;
  groupNorm(x: T, groups: number, gamma: T, beta: T, eps: number): T;
  /** Nearest-neighbour 2× upsampling of an image. */
  upsample2x(x: T): T;
  /** Mean over H and W: [N, H, W, C] → [N, C]. */
  globalAvgPool(x: T): T;
  /** image [N, H, W, C] + vector [N, C] broadcast over H, W. */
  addChannelVector(x: T, v: T): T;
  imageToTokens(x: T): T;
  tokensToImage(x: T, height: number, width: number): T;

  /** Rows of table [V, D] for integer ids [N, T] → [N, T, D]. */
  embedding(ids: T, table: T): T;
  /** 1 where ids ≠ padId, else 0, as float [N, T]. */
  tokenMask(ids: T, padId: number): T;
}
