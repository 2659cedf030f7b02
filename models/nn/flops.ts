import type { Ops } from './ops.ts';

/** A shape-only tensor for counting work: the third back end of the ops interface. */
export interface ShapeOnly {
  shape: number[];
}

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

function broadcast(a: number[], b: number[]): number[] {
  const n = Math.max(a.length, b.length);
  return Array.from({ length: n }, (_, i) => Math.max(a[a.length - n + i] ?? 1, b[b.length - n + i] ?? 1));
}

/**
 * Ops that only propagate shapes and add up multiply-accumulate work (2 FLOPs per MAC) of convolutions
 * and matrix products, the terms that dominate these networks. `batch` replaces a dynamic batch axis.
 */
export function flopCounter(): { ops: Ops<ShapeOnly>; flops: () => number } {
  let flops = 0;
  const t = (shape: number[]): ShapeOnly => ({ shape });
  const same = (x: ShapeOnly) => t(x.shape);
  const bin = (a: ShapeOnly, b: ShapeOnly) => t(broadcast(a.shape, b.shape));
  const ops: Ops<ShapeOnly> = {
    backend: 'tfjs',
    param: (_name, shape) => t(shape),
    constant: (_v, shape) => t(shape),
    shape: (x) => x.shape,
    add: bin,
    sub: bin,
    mul: bin,
    div: bin,
    scale: same,
    addScalar: same,
    sigmoid: same,
    tanh: same,
    silu: same,
    gelu: same,
    sin: same,
    cos: same,
    exp: same,
    sqrt: same,
    abs: same,
    clip: same,
    linear(x, w) {
      const out = [...x.shape.slice(0, -1), w.shape[1]];
      flops += 2 * size(x.shape) * w.shape[1];
      return t(out);
    },
    matmul(a, b, transposeB = false) {
      const [k, n] = transposeB ? [b.shape[b.shape.length - 1], b.shape[b.shape.length - 2]] : b.shape.slice(-2);
      const batch = broadcast(a.shape.slice(0, -2), b.shape.slice(0, -2));
      const m = a.shape[a.shape.length - 2];
      flops += 2 * size(batch) * m * k * n;
      return t([...batch, m, n]);
    },
    softmax: same,
    logSoftmax: same,
    layerNorm: same,
    sum: (x, axis) => t(x.shape.filter((_, i) => i !== (axis < 0 ? x.shape.length + axis : axis))),
    meanAll: () => t([]),
    reshape(x, tail) {
      const known = tail.filter((d) => d !== -1).reduce((a, b) => a * b, 1);
      const rest = size(x.shape.slice(1));
      return t([x.shape[0], ...tail.map((d) => (d === -1 ? rest / known : d))]);
    },
    transpose: (x, perm) => t(perm.map((p) => x.shape[p])),
    concat(xs, axis) {
      const a = axis < 0 ? xs[0].shape.length + axis : axis;
      const shape = [...xs[0].shape];
      shape[a] = xs.reduce((s, x) => s + x.shape[a], 0);
      return t(shape);
    },
    selectIndex: (x) => t(x.shape.filter((_, i) => i !== 1)),
    conv2d(x, w, _b, { stride = 1, pad }) {
      const [kh, kw, cin, cout] = w.shape;
      const [n, h, wd] = x.shape;
      const ho = Math.floor((h + pad[0] + pad[1] - kh) / stride) + 1;
      const wo = Math.floor((wd + pad[2] + pad[3] - kw) / stride) + 1;
      flops += 2 * n * ho * wo * kh * kw * cin * cout;
      return t([n, ho, wo, cout]);
    },
    groupNorm: same,
    upsample2x: (x) => t([x.shape[0], x.shape[1] * 2, x.shape[2] * 2, x.shape[3]]),
    globalAvgPool: (x) => t([x.shape[0], x.shape[3]]),
    addChannelVector: same,
    imageToTokens: (x) => t([x.shape[0], x.shape[1] * x.shape[2], x.shape[3]]),
    tokensToImage: (x, h, w) => t([x.shape[0], h, w, x.shape[2]]),
    embedding: (ids, table) => t([...ids.shape, table.shape[1]]),
    tokenMask: same,
  };
  return { ops, flops: () => flops };
}
