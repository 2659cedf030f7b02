import { type ConvOptions, GELU_TANH, geluParts, type Ops, siluParts } from '../../models/nn/ops.ts';
import type { OnnxGraph } from '../../models/onnx/graph.ts';
import type { OnnxOps, Sym } from '../../models/onnx/ops.ts';

/**
 * Reverse-mode differentiation for the ONNX graph builder. Each op of the ops interface runs forward through
 * the inference builder (so the training graph computes exactly what the exported model computes) and
 * records its vector-Jacobian product here, written in standard opset-17 ops, so one `session.run` of the
 * finished graph is forward and backward together on a stock onnxruntime.
 *
 * Tensors in the VJPs are physical: images NCHW (the builder's storage), everything else as declared.
 * Shapes are fully static (training graphs have a fixed batch), which lets every rule compute its own
 * reshape targets and broadcast reductions.
 */

/** What a VJP rule returns per input: the gradient tensor's name, or undefined where none flows. */
type InputGrads = (string | undefined)[];

interface TapeEntry {
  inputs: (Sym | undefined)[];
  output: Sym;
  backward(dy: string, need: boolean[]): InputGrads;
}

const size = (shape: number[]) => shape.reduce((a, b) => a * b, 1);
/** Physical shape: images are stored NCHW. */
export const physical = (s: Sym): number[] => (s.image ? [s.shape[0], s.shape[3], s.shape[1], s.shape[2]] : s.shape);
const IMAGE_AXIS: Record<number, number> = { 0: 0, 1: 2, 2: 3, 3: 1 };

/** The record of one graph's differentiable ops, shared by every network (ops view) taking part in a loss. */
export class GradTape {
  private readonly entries: TapeEntry[] = [];
  private readonly tracked = new Set<string>();
  private readonly scalars = new Map<number, string>();
  private readonly int64s = new Map<string, string>();

  /**
   * @param nchwcBlock the block size `blockConvs` will move convs onto (0: none); where the batch fills whole blocks,
   *   filter gradients take the conv form that runs fast on those kernels.
   */
  constructor(
    readonly graph: OnnxGraph,
    readonly nchwcBlock = 0,
  ) {}

  /** Mark a leaf (a parameter) as something gradients are wanted for. */
  track(x: Sym): Sym {
    this.tracked.add(x.name);
    return x;
  }

  requiresGrad(x: Sym | undefined): boolean {
    return x !== undefined && this.tracked.has(x.name);
  }

  record(output: Sym, inputs: (Sym | undefined)[], backward: TapeEntry['backward']): Sym {
    if (inputs.some((x) => this.requiresGrad(x))) {
      this.tracked.add(output.name);
      this.entries.push({ inputs, output, backward });
    }
    return output;
  }

  // Node helpers for the VJP rules.
  n(op: string, inputs: string[], attrs: Parameters<OnnxGraph['node']>[2] = {}): string {
    return this.graph.node(op, inputs, attrs)[0];
  }
  c(v: number): string {
    const known = this.scalars.get(v);
    if (known) return known;
    const name = this.graph.floatInitializer('g_scalar', [], Float32Array.of(v));
    this.scalars.set(v, name);
    return name;
  }
  i64(values: number[]): string {
    const key = values.join();
    const known = this.int64s.get(key);
    if (known) return known;
    const name = this.graph.int64Initializer('g_ints', values);
    this.int64s.set(key, name);
    return name;
  }
  reshape(x: string, shape: number[]): string {
    return this.n('Reshape', [x, this.i64(shape)]);
  }
  transpose(x: string, perm: number[]): string {
    return this.n('Transpose', [x], { perm: { ints: perm } });
  }
  reduceSum(x: string, axes: number[], keep: boolean): string {
    return this.n('ReduceSum', [x, this.i64(axes)], { keepdims: { i: keep ? 1 : 0 } });
  }
  reduceMean(x: string, axes: number[]): string {
    return this.n('ReduceMean', [x], { axes: { ints: axes }, keepdims: { i: 1 } });
  }
  mul(a: string, b: string): string {
    return this.n('Mul', [a, b]);
  }

  /** Sum a gradient of broadcast shape `from` back to an operand's shape `to`. */
  unbroadcast(g: string, from: number[], to: number[]): string {
    if (from.join() === to.join()) return g;
    const lead = from.length - to.length;
    const axes = from.map((_, i) => i).filter((i) => i < lead || (to[i - lead] === 1 && from[i] !== 1));
    const reduced = axes.length > 0 ? this.reduceSum(g, axes, true) : g;
    return this.reshape(reduced, to);
  }

  /**
   * Gradients of the scalar `loss` with respect to `wrt`, in their declared layouts; undefined where `loss`
   * does not depend on a tensor.
   */
  gradients(loss: Sym, wrt: Sym[]): (string | undefined)[] {
    const grads = new Map<string, string>([[loss.name, this.c(1)]]);
    for (let i = this.entries.length - 1; i >= 0; i--) {
      const e = this.entries[i];
      const dy = grads.get(e.output.name);
      if (!dy) continue;
      const need = e.inputs.map((x) => this.requiresGrad(x));
      const gs = e.backward(dy, need);
      e.inputs.forEach((x, k) => {
        const g = gs[k];
        if (!x || !need[k] || !g) return;
        const prev = grads.get(x.name);
        grads.set(x.name, prev ? this.n('Add', [prev, g]) : g);
      });
    }
    return wrt.map((x) => grads.get(x.name));
  }
}

/** The ops interface on the ONNX builder `base`, recording each op's vector-Jacobian product on `tape`. */
export function gradOps(base: OnnxOps, tape: GradTape): Ops<Sym> {
  const t = tape;
  const P = physical;
  const binaryShape = (a: Sym, b: Sym, y: Sym) => ({ pa: P(a), pb: P(b), py: P(y) });

  return {
    backend: 'onnx',
    param: (name, shape, init) => t.track(base.param(name, shape, init)),
    constant: (values, shape) => base.constant(values, shape),
    shape: (x) => base.shape(x),

    add(a, b) {
      const y = base.add(a, b);
      const { pa, pb, py } = binaryShape(a, b, y);
      return t.record(y, [a, b], (dy) => [t.unbroadcast(dy, py, pa), t.unbroadcast(dy, py, pb)]);
    },
    sub(a, b) {
      const y = base.sub(a, b);
      const { pa, pb, py } = binaryShape(a, b, y);
      return t.record(y, [a, b], (dy, need) => [t.unbroadcast(dy, py, pa), need[1] ? t.unbroadcast(t.n('Neg', [dy]), py, pb) : undefined]);
    },
    mul(a, b) {
      const y = base.mul(a, b);
      const { pa, pb, py } = binaryShape(a, b, y);
      return t.record(y, [a, b], (dy, need) => [
        need[0] ? t.unbroadcast(t.mul(dy, b.name), py, pa) : undefined,
        need[1] ? t.unbroadcast(t.mul(dy, a.name), py, pb) : undefined,
      ]);
    },
    div(a, b) {
      const y = base.div(a, b);
      const { pa, pb, py } = binaryShape(a, b, y);
      return t.record(y, [a, b], (dy, need) => [
        need[0] ? t.unbroadcast(t.n('Div', [dy, b.name]), py, pa) : undefined,
        need[1] ? t.unbroadcast(t.n('Neg', [t.n('Div', [t.mul(dy, y.name), b.name])]), py, pb) : undefined,
      ]);
    },
    scale(x, s) {
      return t.record(base.scale(x, s), [x], (dy) => [t.mul(dy, t.c(s))]);
    },
    addScalar(x, s) {
      return t.record(base.addScalar(x, s), [x], (dy) => [dy]);
    },
    sigmoid(x) {
      const y = base.sigmoid(x);
      return t.record(y, [x], (dy) => [t.mul(dy, t.mul(y.name, t.n('Sub', [t.c(1), y.name])))]);
    },
    tanh(x) {
      const y = base.tanh(x);
      return t.record(y, [x], (dy) => [t.mul(dy, t.n('Sub', [t.c(1), t.mul(y.name, y.name)]))]);
    },
    silu(x) {
      // d(x·σ)/dx = σ + y·(1 − σ): 4 activation-sized nodes where the composite's tape emits 6.
      const { y, sigmoid: s } = siluParts(base, x);
      return t.record(y, [x], (dy) => [t.mul(dy, t.n('Add', [s.name, t.mul(y.name, t.n('Sub', [t.c(1), s.name]))]))]);
    },
    gelu(x) {
      // y = ½x(1 + th), th = tanh(c·(x + a·x³)): dy/dx = ½(1 + th) + y·(1 − th)·c·(1 + 3a·x²), reusing x², th
      // and y from the forward: 9 nodes where the composite's tape emits 16.
      const { y, square, tanh: th } = geluParts(base, x);
      const { inner: c, cube: a } = GELU_TANH;
      return t.record(y, [x], (dy) => {
        const slope = t.n('Add', [t.mul(square.name, t.c(3 * a * c)), t.c(c)]);
        const tail = t.mul(t.mul(y.name, t.n('Sub', [t.c(1), th.name])), slope);
        const head = t.n('Add', [t.mul(th.name, t.c(0.5)), t.c(0.5)]);
        return [t.mul(dy, t.n('Add', [head, tail]))];
      });
    },
    sin(x) {
      return t.record(base.sin(x), [x], (dy) => [t.mul(dy, t.n('Cos', [x.name]))]);
    },
    cos(x) {
      return t.record(base.cos(x), [x], (dy) => [t.n('Neg', [t.mul(dy, t.n('Sin', [x.name]))])]);
    },
    exp(x) {
      const y = base.exp(x);
      return t.record(y, [x], (dy) => [t.mul(dy, y.name)]);
    },
    sqrt(x) {
      const y = base.sqrt(x);
      return t.record(y, [x], (dy) => [t.n('Div', [t.mul(dy, t.c(0.5)), y.name])]);
    },
    abs(x) {
      return t.record(base.abs(x), [x], (dy) => [t.mul(dy, t.n('Sign', [x.name]))]);
    },
    clip(x, lo, hi) {
      return t.record(base.clip(x, lo, hi), [x], (dy) => {
        const inside = t.n('And', [t.n('GreaterOrEqual', [x.name, t.c(lo)]), t.n('LessOrEqual', [x.name, t.c(hi)])]);
        return [t.mul(dy, t.n('Cast', [inside], { to: { i: 1 } }))];
      });
    },

    linear(x, w, b) {
      const y = base.linear(x, w, b);
      const [inDim, outDim] = w.shape;
      return t.record(y, [x, w, b], (dy, need) => {
        const dy2 = t.reshape(dy, [-1, outDim]);
        return [
          need[0] ? t.n('MatMul', [dy, t.transpose(w.name, [1, 0])]) : undefined,
          need[1] ? t.n('Gemm', [t.reshape(x.name, [-1, inDim]), dy2], { transA: { i: 1 } }) : undefined,
          need[2] ? t.reduceSum(dy2, [0], false) : undefined,
        ];
      });
    },
    matmul(a, b, transposeB = false) {
      const y = base.matmul(a, b, transposeB);
      const swap = (rank: number) => {
        const perm = Array.from({ length: rank }, (_, i) => i);
        perm.splice(-2, 2, rank - 1, rank - 2);
        return perm;
      };
      const T = (s: string, rank: number) => t.transpose(s, swap(rank));
      const { pa, pb, py } = binaryShape(a, b, y);
      // Gradients in the broadcast batch shape, then summed back to each operand's shape.
      const full = (g: string, operand: number[]) => t.unbroadcast(g, [...py.slice(0, -2), ...operand.slice(-2)], operand);
      return t.record(y, [a, b], (dy, need) => [
        need[0] ? full(t.n('MatMul', [dy, transposeB ? b.name : T(b.name, pb.length)]), pa) : undefined,
        need[1] ? full(transposeB ? t.n('MatMul', [T(dy, py.length), a.name]) : t.n('MatMul', [T(a.name, pa.length), dy]), pb) : undefined,
      ]);
    },
    softmax(x) {
      const y = base.softmax(x);
      return t.record(y, [x], (dy) => [t.mul(y.name, t.n('Sub', [dy, t.reduceSum(t.mul(dy, y.name), [-1], true)]))]);
    },
    logSoftmax(x) {
      const y = base.logSoftmax(x);
      return t.record(y, [x], (dy) => [t.n('Sub', [dy, t.mul(t.n('Exp', [y.name]), t.reduceSum(dy, [-1], true))])]);
    },
    layerNorm(x, gamma, beta, eps) {
      const y = base.layerNorm(x, gamma, beta, eps);
      return t.record(y, [x, gamma, beta], (dy, need) => {
        // The forward kernel keeps no statistics in the default domain: recompute them (cheap next to matmuls).
        const xc = t.n('Sub', [x.name, t.reduceMean(x.name, [-1])]);
        const inv = t.n('Reciprocal', [t.n('Sqrt', [t.n('Add', [t.reduceMean(t.mul(xc, xc), [-1]), t.c(eps)])])]);
        const xhat = t.mul(xc, inv);
        const rows = Array.from({ length: x.shape.length - 1 }, (_, i) => i);
        let dx: string | undefined;
        if (need[0]) {
          const g = t.mul(dy, gamma.name);
          dx = t.mul(inv, t.n('Sub', [t.n('Sub', [g, t.reduceMean(g, [-1])]), t.mul(xhat, t.reduceMean(t.mul(g, xhat), [-1]))]));
        }
        return [dx, need[1] ? t.reduceSum(t.mul(dy, xhat), rows, false) : undefined, need[2] ? t.reduceSum(dy, rows, false) : undefined];
      });
    },
    sum(x, axis) {
      const y = base.sum(x, axis);
      const a = axis < 0 ? x.shape.length + axis : axis;
      return t.record(y, [x], (dy) => [t.n('Expand', [t.n('Unsqueeze', [dy, t.i64([a])]), t.i64(P(x))])]);
    },
    meanAll(x) {
      const y = base.meanAll(x);
      return t.record(y, [x], (dy) => [t.n('Expand', [t.mul(dy, t.c(1 / size(x.shape))), t.i64(P(x))])]);
    },

    reshape(x, tail) {
      return t.record(base.reshape(x, tail), [x], (dy) => [t.reshape(dy, P(x))]);
    },
    transpose(x, perm) {
      const inverse = perm.map((_, i) => perm.indexOf(i));
      return t.record(base.transpose(x, perm), [x], (dy) => [t.transpose(dy, inverse)]);
    },
    concat(xs, axis) {
      const y = base.concat(xs, axis);
      const logical = axis < 0 ? xs[0].shape.length + axis : axis;
      const physicalAxis = xs[0].image ? IMAGE_AXIS[logical] : logical;
      const sizes = xs.map((x) => x.shape[logical]);
      return t.record(y, xs, (dy) => t.graph.node('Split', [dy, t.i64(sizes)], { axis: { i: physicalAxis } }, xs.length));
    },
    selectIndex(x, index) {
      const y = base.selectIndex(x, index);
      const [, len] = x.shape;
      return t.record(y, [x], (dy) => [t.n('Pad', [t.n('Unsqueeze', [dy, t.i64([1])]), t.i64([0, index, 0, 0, len - 1 - index, 0])])]);
    },

    conv2d(x, w, b, options: ConvOptions) {
      const y = base.conv2d(x, w, b, options);
      const stride = options.stride ?? 1;
      const [kh, kw, cin, cout] = w.shape;
      const [n, , h, wd] = P(x);
      const [, , ho, wo] = P(y);
      if (!w.oihw) throw new Error('conv2d: the training graph stores filters [cout, cin, kh, kw]; pass a live parameter');
      return t.record(y, [x, w, b], (dy, need) => [
        need[0] ? convInputGrad(t, dy, w.name, { stride, pad: options.pad, kh, kw, h, wd, ho, wo }) : undefined,
        need[1] ? convFilterGrad(t, dy, x.name, { stride, pad: options.pad, kh, kw, n, cin, cout, ho, wo, h, wd }) : undefined,
        need[2] ? t.reduceSum(dy, [0, 2, 3], false) : undefined,
      ]);
    },
    groupNorm(x, groups, gamma, beta, eps) {
      const { y, normalized } = base.groupNormParts(x, groups, gamma, beta, eps);
      const px = P(x);
      const [n, c, h, w] = px;
      const per = c / groups;
      const count = per * h * w;
      return t.record(y, [x, gamma, beta], (dy, need) => {
        // In [n, groups, channels per group, h·w], where per-channel and per-group factors broadcast. x̂ comes from
        // the forward; the channel sums of dy and dy·x̂ give dγ and dβ and, weighted by γ, the group means
        // dx needs, so dx = inv·(γ·dy − mean(γ·dy) − x̂·mean(γ·dy·x̂)) costs four activation-sized nodes.
        const split = [n, groups, per, h * w];
        const [dy4, xhat] = [t.reshape(dy, split), t.reshape(normalized.name, split)];
        const sumDy = t.reduceSum(dy4, [3], true);
        const sumDyXhat = t.reduceSum(t.mul(dy4, xhat), [3], true);
        let dx: string | undefined;
        if (need[0]) {
          // The forward kernel keeps no statistics: the inverse deviation again, per group.
          const xg = t.reshape(x.name, [n, groups, count]);
          const xc = t.n('Sub', [xg, t.reduceMean(xg, [2])]);
          const variance = t.mul(t.n('ReduceSumSquare', [xc], { axes: { ints: [2] }, keepdims: { i: 1 } }), t.c(1 / count));
          const inv = t.reshape(t.n('Reciprocal', [t.n('Sqrt', [t.n('Add', [variance, t.c(eps)])])]), [n, groups, 1, 1]);
          const g = t.reshape(gamma.name, [1, groups, per, 1]);
          const groupMean = (sums: string) => t.mul(t.reduceSum(t.mul(sums, g), [2], true), t.c(1 / count));
          const [meanG, meanGXhat] = [groupMean(sumDy), groupMean(sumDyXhat)];
          const centred = t.n('Add', [t.mul(xhat, t.mul(meanGXhat, inv)), t.mul(meanG, inv)]);
          dx = t.reshape(t.n('Sub', [t.mul(dy4, t.mul(g, inv)), centred]), px);
        }
        return [
          dx,
          need[1] ? t.reshape(t.reduceSum(sumDyXhat, [0], false), [c]) : undefined,
          need[2] ? t.reshape(t.reduceSum(sumDy, [0], false), [c]) : undefined,
        ];
      });
    },
    upsample2x(x) {
      const [n, c, h, w] = P(x);
      return t.record(base.upsample2x(x), [x], (dy) => [t.reduceSum(t.reshape(dy, [n, c, h, 2, w, 2]), [3, 5], false)]);
    },
    globalAvgPool(x) {
      const [n, c, h, w] = P(x);
      return t.record(base.globalAvgPool(x), [x], (dy) => [
        t.n('Expand', [t.reshape(t.mul(dy, t.c(1 / (h * w))), [n, c, 1, 1]), t.i64([n, c, h, w])]),
      ]);
    },
    addChannelVector(x, v) {
      return t.record(base.addChannelVector(x, v), [x, v], (dy, need) => [dy, need[1] ? t.reduceSum(dy, [2, 3], false) : undefined]);
    },
    imageToTokens(x) {
      return t.record(base.imageToTokens(x), [x], (dy) => [t.reshape(t.transpose(dy, [0, 2, 1]), P(x))]);
    },
    tokensToImage(x, height, width) {
      const [n, hw, c] = x.shape;
      return t.record(base.tokensToImage(x, height, width), [x], (dy) => [t.transpose(t.reshape(dy, [n, c, hw]), [0, 2, 1])]);
    },

    embedding(ids, table) {
      const y = base.embedding(ids, table);
      const [vocab, dim] = table.shape;
      return t.record(y, [undefined, table], (dy) => {
        // The table's gradient as one-hot(ids)ᵀ · dy: a small matmul, and no scatter kernel needed.
        const range = t.graph.int64Initializer(
          'vocab_range',
          Array.from({ length: vocab }, (_, i) => i),
        );
        const hot = t.n('Cast', [t.n('Equal', [t.reshape(ids.name, [-1, 1]), range])], { to: { i: 1 } });
        return [undefined, t.n('Gemm', [hot, t.reshape(dy, [-1, dim])], { transA: { i: 1 } })];
      });
    },
    tokenMask: (ids, padId) => base.tokenMask(ids, padId),
  };
}

interface ConvGeometry {
  h: number;
  wd: number;
  stride: number;
  pad: [number, number, number, number];
  kh: number;
  kw: number;
  ho: number;
  wo: number;
}

/**
 * dx of a convolution. Stride 1: a forward Conv of dy with the spatially flipped, in/out-swapped filter and
 * the complementary padding — onnxruntime's fastest path (measured 1.0–2× ConvTranspose on these layers).
 * Strided: ConvTranspose with the forward padding and the output padding that restores the input size.
 */
function convInputGrad(t: GradTape, dy: string, w: string, g: ConvGeometry): string {
  // w is [cout, cin, kh, kw].
  const [top, bottom, left, right] = g.pad;
  if (g.stride === 1) {
    // Flipped, then in/out-swapped: blockConvs folds a filter's final Transpose into its blocked reorder.
    const flipped = t.transpose(
      t.n('Slice', [w, t.i64([-1, -1]), t.i64([-g.kh - 1, -g.kw - 1]), t.i64([2, 3]), t.i64([-1, -1])]),
      [1, 0, 2, 3],
    );
    return t.n('Conv', [dy, flipped], {
      kernel_shape: { ints: [g.kh, g.kw] },
      pads: { ints: [g.kh - 1 - top, g.kw - 1 - left, g.kh - 1 - bottom, g.kw - 1 - right] },
    });
  }
  return t.n('ConvTranspose', [dy, w], {
    kernel_shape: { ints: [g.kh, g.kw] },
    strides: { ints: [g.stride, g.stride] },
    pads: { ints: [top, left, bottom, right] },
    output_padding: { ints: [g.h - g.stride * (g.ho - 1) - g.kh + top + bottom, g.wd - g.stride * (g.wo - 1) - g.kw + left + right] },
  });
}

/**
 * dW of a convolution in the stored [cout, cin, kh, kw] layout.
 *
 * Where `blockConvs` will move it onto onnxruntime's NCHWc kernels (batch and cout in whole blocks), as one conv
 * over transposed tensors: the input [cin, n, H, W] (batch ↔ channels) convolved with dy [cout, n, ho, wo] as the
 * filter, dilated by the stride, gives dW [cin, cout, kh, kw]. On the bench U-Net's layers alone (2 threads, batch
 * 32, reorders included) it measured 1.2–1.5× the per-tap products below on 16×16 maps and ≈ 3× on 8×8, and the
 * whole bench step 9–12 % faster side by side; on the generic conv kernels the same form runs 2–4× slower than
 * the products, so it is only taken where the blocked kernels will run it.
 *
 * A 1×1 filter's as one GEMM over the whole batch. Otherwise as batched matrix products of input patches
 * [n, cin, ho·wo] with dyᵀ [n, ho·wo, cout], summed over the batch. The patches come from one strided slice per
 * tap where the maps are large (≥ 256 positions), else from a Conv with one-hot filters (im2col in one kernel),
 * which measured faster on small maps and strided layers.
 */
function convFilterGrad(
  t: GradTape,
  dy: string,
  x: string,
  g: ConvGeometry & { n: number; cin: number; cout: number; h: number; wd: number },
): string {
  const [top, bottom, left, right] = g.pad;
  const { n, cin, cout, kh, kw, ho, wo, stride } = g;
  const positions = ho * wo;
  const block = t.nchwcBlock;
  const pad = () => (top + bottom + left + right > 0 ? t.n('Pad', [x, t.i64([0, 0, top, left, 0, 0, bottom, right])]) : x);
  if (block > 1 && n % block === 0 && cout % block === 0 && kh * kw > 1) {
    // The Reshape states dy's shape for blockConvs, which reads filter shapes statically and reorders dyᵀ into
    // its blocked filter layout straight from dy.
    const filter = t.transpose(t.reshape(dy, [n, cout, ho, wo]), [1, 0, 2, 3]);
    // Padded explicitly: the blocked kernel computes output columns that read padding one at a time, and with a
    // 3×3 filter and padding 1 two of the three columns do (1.15–1.6× faster per layer, the Pad's copy included).
    // Padded before the transpose, which measured up to 2.4× faster than padding its result.
    const full = t.n('Conv', [t.transpose(pad(), [1, 0, 2, 3]), filter], {
      kernel_shape: { ints: [ho, wo] },
      dilations: { ints: [stride, stride] },
    });
    // Rows and columns past the last tap exist where the stride leaves input unread; they are not filter taps.
    const [fh, fw] = [g.h + top + bottom - stride * (ho - 1), g.wd + left + right - stride * (wo - 1)];
    const taps = fh === kh && fw === kw ? full : t.n('Slice', [full, t.i64([0, 0]), t.i64([kh, kw]), t.i64([2, 3])]);
    return t.transpose(taps, [1, 0, 2, 3]);
  }
  if (kh * kw === 1 && stride === 1) {
    // dW = dy · xᵀ with the batch folded into the inner dimension: one GEMM of depth n·h·w, where per-sample
    // products are shallow (h·w) and leave [n, cin, cout] partials to sum. Swapping batch and channels keeps
    // whole maps contiguous.
    const fold = (v: string, c: number) => t.reshape(t.transpose(t.reshape(v, [n, c, positions]), [1, 0, 2]), [c, n * positions]);
    return t.reshape(t.n('Gemm', [fold(dy, cout), fold(x, cin)], { transB: { i: 1 } }), [cout, cin, 1, 1]);
  }
  const dyT = t.transpose(t.reshape(dy, [n, cout, positions]), [0, 2, 1]);
  const perTap = (patches: string) => t.reduceSum(t.n('MatMul', [t.reshape(patches, [n, cin, positions]), dyT]), [0], true);
  if (stride === 1 && positions >= 256) {
    const padded = pad();
    const taps: string[] = [];
    for (let a = 0; a < kh; a++)
      for (let c = 0; c < kw; c++) taps.push(perTap(t.n('Slice', [padded, t.i64([a, c]), t.i64([a + ho, c + wo]), t.i64([2, 3])])));
    return t.reshape(t.transpose(t.reshape(t.n('Concat', taps, { axis: { i: 0 } }), [kh * kw, cin, cout]), [2, 1, 0]), [cout, cin, kh, kw]);
  }
  const eye = new Float32Array(kh * kw * kh * kw);
  for (let i = 0; i < kh * kw; i++) eye[i * kh * kw + i] = 1;
  const eyes = t.graph.floatInitializer('im2col', [kh * kw, 1, kh, kw], eye);
  const cols = t.n('Conv', [t.reshape(x, [n * cin, 1, g.h, g.wd]), eyes], {
    kernel_shape: { ints: [kh, kw] },
    strides: { ints: [stride, stride] },
    pads: { ints: [top, left, bottom, right] },
  });
  // Batch folded into the product's inner dimension: one GEMM, no [n, cin·k², cout] partials to sum.
  const rows = t.reshape(t.transpose(t.reshape(cols, [n, cin * kh * kw, positions]), [1, 0, 2]), [cin * kh * kw, n * positions]);
  const grad = t.n('MatMul', [rows, t.reshape(t.transpose(dy, [0, 2, 3, 1]), [n * positions, cout])]);
  return t.reshape(t.transpose(grad, [1, 0]), [cout, cin, kh, kw]);
}
