import { InvalidArgumentError } from '../errors.ts';
import { type ConvOptions, geluParts, type Ops, type ParamInit, siluParts } from '../nn/ops.ts';
import { filterToOihw, weightSize, type Weight, type WeightMap } from '../nn/weights.ts';
import { toFloat16Array } from './fp16.ts';
import type { OnnxGraph } from './graph.ts';

/**
 * A symbolic tensor. `shape` is the logical shape of the ops interface (images NHWC, batch -1 = dynamic);
 * image tensors are stored NCHW in the graph, which every layout-sensitive op below accounts for.
 */
export interface Sym {
  name: string;
  shape: number[];
  image: boolean;
  /** Set for parameters: the trained values, materialised as initializers by the ops that use them. */
  weight?: Weight & { param: string };
  /** A live conv filter already stored [cout, cin, kh, kw], as Conv takes it (the training graph's layout). */
  oihw?: boolean;
}

export interface OnnxOpsOptions {
  /** Store weights as float16 initializers followed by a Cast to float32: half the download, fp32 arithmetic. */
  fp16Weights?: boolean;
  /**
   * Live parameters instead of stored weights (the training graph): each parameter is a tensor of the graph in
   * the ops interface's layout, converted by nodes where an op needs another layout.
   */
  params?: (name: string, shape: number[], init: ParamInit) => Sym;
}

/** NHWC logical axis → NCHW physical axis. */
const IMAGE_AXIS: Record<number, number> = { 0: 0, 1: 2, 2: 3, 3: 1, [-1]: 1 };

function broadcast(a: number[], b: number[]): number[] {
  const n = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    out.push(x === 1 ? y : y === 1 ? x : x === -1 || y === -1 ? -1 : x);
  }
  return out;
}

export interface OnnxOps extends Ops<Sym> {
  /** A graph input holding an image, given in NCHW as the exported model's callers pass it. */
  imageInput(name: string, height: number, width: number, channels: number): Sym;
  tensorInput(name: string, tail: number[], dtype: 'float32' | 'int64'): Sym;
  output(name: string, x: Sym): void;
  /** Weights given to the builder that no op asked for: a sign the export and the network drifted apart. */
  unusedWeights(): string[];
  /** `groupNorm`, with its normalised input x̂ (NCHW, before γ and β), which the training graph's VJP reuses. */
  groupNormParts(x: Sym, groups: number, gamma: Sym, beta: Sym, eps: number): { y: Sym; normalized: Sym };
}

export function onnxOps(graph: OnnxGraph, weights: WeightMap, options: OnnxOpsOptions = {}): OnnxOps {
  const used = new Set<string>();
  const materialised = new Map<string, string>();
  const sym = (name: string, shape: number[], image = false): Sym => ({ name, shape, image });
  const node = (op: string, inputs: string[], attrs = {}) => graph.node(op, inputs, attrs)[0];
  const plain = (x: Sym, op: string) => {
    if (x.image) throw new InvalidArgumentError(op, 'expects a non-image tensor; convert with imageToTokens first');
    return x;
  };
  const image = (x: Sym, op: string) => {
    if (!x.image) throw new InvalidArgumentError(op, 'expects an image tensor [N, H, W, C]');
    return x;
  };

  /** The tensor name of a parameter or constant, in the given physical layout (cached per layout). */
  function value(x: Sym, layout: 'as-is' | 'conv' | 'channel' = 'as-is'): string {
    if (!x.weight && (layout === 'as-is' || (layout === 'conv' && x.oihw))) return x.name;
    const key = `${x.weight?.param ?? x.name}|${layout}`;
    const cached = materialised.get(key);
    if (cached) return cached;
    if (!x.weight) {
      const converted =
        layout === 'conv'
          ? node('Transpose', [x.name], { perm: { ints: [3, 2, 0, 1] } })
          : node('Reshape', [x.name, ints([x.shape[0], 1, 1])]);
      materialised.set(key, converted);
      return converted;
    }
    let { data } = x.weight;
    let dims = x.weight.shape;
    if (layout === 'conv') {
      const [kh, kw, cin, cout] = dims;
      data = filterToOihw(data, dims);
      dims = [cout, cin, kh, kw];
    } else if (layout === 'channel') dims = [dims[0], 1, 1];
    const hint = x.weight.param.replace(/[^A-Za-z0-9_.]/g, '_');
    let name: string;
    if (options.fp16Weights && data.length > 1) {
      const half = toFloat16Array(data);
      const stored = graph.initializer(`${hint}.fp16`, dims, 'float16', new Uint8Array(half.buffer));
      name = node('Cast', [stored], { to: { i: 1 } });
    } else name = graph.floatInitializer(hint, dims, data);
    materialised.set(key, name);
    return name;
  }

  const scalar = (v: number) => graph.floatInitializer('scalar', [], Float32Array.of(v));
  const ints = (v: number[]) => graph.int64Initializer('ints', v);

  function binary(op: string, a: Sym, b: Sym): Sym {
    if (a.image !== b.image) throw new InvalidArgumentError(op, 'cannot mix image and non-image tensors; use addChannelVector');
    return sym(node(op, [value(a), value(b)]), broadcast(a.shape, b.shape), a.image);
  }
  const unary = (op: string) => (x: Sym) => sym(node(op, [value(x)]), x.shape, x.image);

  const ops: OnnxOps = {
    backend: 'onnx',
    param(name, shape, init) {
      if (options.params) return options.params(name, shape, init);
      const w = weights.get(name);
      if (!w) throw new InvalidArgumentError(name, 'no trained weight with this name in the export');
      if (w.shape.join() !== shape.join())
        throw new InvalidArgumentError(name, `weight shape [${w.shape}] does not match the network's [${shape}]`);
      if (w.data.length !== weightSize(shape))
        throw new InvalidArgumentError(name, `weight has ${w.data.length} values, shape needs ${weightSize(shape)}`);
      used.add(name);
      return { name: `param:${name}`, shape, image: false, weight: { ...w, param: name } };
    },
    constant(values, shape) {
      return sym(graph.floatInitializer('const', shape, values), shape);
    },
    shape: (x) => x.shape,

    add: (a, b) => binary('Add', a, b),
    sub: (a, b) => binary('Sub', a, b),
    mul: (a, b) => binary('Mul', a, b),
    div: (a, b) => binary('Div', a, b),
    scale: (x, s) => sym(node('Mul', [value(x), scalar(s)]), x.shape, x.image),
    addScalar: (x, s) => sym(node('Add', [value(x), scalar(s)]), x.shape, x.image),
    sigmoid: unary('Sigmoid'),
    tanh: unary('Tanh'),
    silu: (x) => siluParts(ops, x).y,
    gelu: (x) => geluParts(ops, x).y,
    sin: unary('Sin'),
    cos: unary('Cos'),
    exp: unary('Exp'),
    sqrt: unary('Sqrt'),
    abs: unary('Abs'),
    clip: (x, lo, hi) => sym(node('Clip', [value(x), scalar(lo), scalar(hi)]), x.shape, x.image),

    linear(x, w, b) {
      plain(x, 'linear');
      let y = node('MatMul', [x.name, value(w)]);
      if (b) y = node('Add', [y, value(b)]);
      return sym(y, [...x.shape.slice(0, -1), w.shape[1]]);
    },
    matmul(a, b, transposeB = false) {
      plain(a, 'matmul');
      plain(b, 'matmul');
      let bn = value(b);
      let bShape = b.shape;
      if (transposeB) {
        const perm = b.shape.map((_, i) => i);
        perm.splice(-2, 2, perm.length - 1, perm.length - 2);
        bn = node('Transpose', [bn], { perm: { ints: perm } });
        bShape = perm.map((p) => b.shape[p]);
      }
      const batch = broadcast(a.shape.slice(0, -2), bShape.slice(0, -2));
      return sym(node('MatMul', [value(a), bn]), [...batch, a.shape[a.shape.length - 2], bShape[bShape.length - 1]]);
    },
    softmax: (x) => sym(node('Softmax', [plain(x, 'softmax').name], { axis: { i: -1 } }), x.shape),
    logSoftmax: (x) => sym(node('LogSoftmax', [plain(x, 'logSoftmax').name], { axis: { i: -1 } }), x.shape),
    layerNorm(x, gamma, beta, eps) {
      plain(x, 'layerNorm');
      return sym(node('LayerNormalization', [x.name, value(gamma), value(beta)], { axis: { i: -1 }, epsilon: { f: eps } }), x.shape);
    },
    sum(x, axis) {
      plain(x, 'sum');
      const a = axis < 0 ? x.shape.length + axis : axis;
      return sym(
        node('ReduceSum', [x.name, ints([a])], { keepdims: { i: 0 } }),
        x.shape.filter((_, i) => i !== a),
      );
    },

    meanAll: (x) => sym(node('ReduceMean', [value(x)], { keepdims: { i: 0 } }), []),
    reshape(x, tail) {
      plain(x, 'reshape');
      let shape = [x.shape[0], ...tail];
      if (tail.includes(-1)) {
        const known = tail.filter((d) => d !== -1).reduce((p, q) => p * q, 1);
        const total = x.shape.slice(1).reduce((p, q) => p * q, 1);
        shape = [x.shape[0], ...tail.map((d) => (d === -1 ? total / known : d))];
      }
      return sym(node('Reshape', [value(x), ints([0, ...tail])]), shape);
    },
    transpose(x, perm) {
      plain(x, 'transpose');
      return sym(
        node('Transpose', [x.name], { perm: { ints: perm } }),
        perm.map((p) => x.shape[p]),
      );
    },
    concat(xs, axis) {
      const isImage = xs[0].image;
      if (xs.some((x) => x.image !== isImage)) throw new InvalidArgumentError('concat', 'cannot mix image and non-image tensors');
      const rank = xs[0].shape.length;
      const logical = axis < 0 ? rank + axis : axis;
      const physical = isImage ? IMAGE_AXIS[logical] : logical;
      const shape = [...xs[0].shape];
      shape[logical] = xs.reduce((s, x) => s + x.shape[logical], 0);
      return sym(
        node(
          'Concat',
          xs.map((x) => value(x)),
          { axis: { i: physical } },
        ),
        shape,
        isImage,
      );
    },
    selectIndex(x, index) {
      plain(x, 'selectIndex');
      const idx = graph.int64Initializer('index', [index], true);
      return sym(
        node('Gather', [x.name, idx], { axis: { i: 1 } }),
        x.shape.filter((_, i) => i !== 1),
      );
    },

    conv2d(x, w, b, { stride = 1, pad }: ConvOptions) {
      image(x, 'conv2d');
      const [kh, kw, , cout] = w.shape;
      const [top, bottom, left, right] = pad;
      const inputs = [x.name, value(w, 'conv')];
      if (b) inputs.push(value(b));
      const y = node('Conv', inputs, {
        kernel_shape: { ints: [kh, kw] },
        strides: { ints: [stride, stride] },
        pads: { ints: [top, left, bottom, right] },
      });
      const [n, h, wd] = x.shape;
      return sym(y, [n, Math.floor((h + top + bottom - kh) / stride) + 1, Math.floor((wd + left + right - kw) / stride) + 1, cout], true);
    },
    groupNorm: (x, groups, gamma, beta, eps) => ops.groupNormParts(x, groups, gamma, beta, eps).y,
    groupNormParts(x, groups, gamma, beta, eps) {
      image(x, 'groupNorm');
      // InstanceNormalization over [N, G, C/G·H·W]: ORT runs it as one kernel, whereas its GroupNormalization
      // is missing or expanded into dozens of nodes.
      const [, h, w, c] = x.shape;
      const grouped = node('Reshape', [x.name, ints([0, groups, -1])]);
      const ones = graph.floatInitializer('gn_scale', [groups], new Float32Array(groups).fill(1));
      const zeros = graph.floatInitializer('gn_bias', [groups], new Float32Array(groups));
      const normed = node('InstanceNormalization', [grouped, ones, zeros], { epsilon: { f: eps } });
      const back = node('Reshape', [normed, ints([0, c, h, w])]);
      return {
        y: sym(node('Add', [node('Mul', [back, value(gamma, 'channel')]), value(beta, 'channel')]), x.shape, true),
        normalized: sym(back, x.shape, true),
      };
    },
    upsample2x(x) {
      image(x, 'upsample2x');
      const scales = graph.floatInitializer('scales', [4], Float32Array.of(1, 1, 2, 2));
      const y = node('Resize', [x.name, '', scales], {
        mode: { s: 'nearest' },
        coordinate_transformation_mode: { s: 'asymmetric' },
        nearest_mode: { s: 'floor' },
      });
      const [n, h, w, c] = x.shape;
      return sym(y, [n, 2 * h, 2 * w, c], true);
    },
    globalAvgPool(x) {
      image(x, 'globalAvgPool');
      return sym(node('ReduceMean', [x.name], { axes: { ints: [2, 3] }, keepdims: { i: 0 } }), [x.shape[0], x.shape[3]]);
    },
    addChannelVector(x, v) {
      image(x, 'addChannelVector');
      const expanded = node('Unsqueeze', [value(plain(v, 'addChannelVector')), ints([2, 3])]);
      return sym(node('Add', [x.name, expanded]), x.shape, true);
    },
    imageToTokens(x) {
      image(x, 'imageToTokens');
      const [n, h, w, c] = x.shape;
      const flat = node('Reshape', [x.name, ints([0, c, h * w])]);
      return sym(node('Transpose', [flat], { perm: { ints: [0, 2, 1] } }), [n, h * w, c]);
    },
    tokensToImage(x, height, width) {
      plain(x, 'tokensToImage');
      const [n, , c] = x.shape;
      const t = node('Transpose', [x.name], { perm: { ints: [0, 2, 1] } });
      return sym(node('Reshape', [t, ints([0, c, height, width])]), [n, height, width, c], true);
    },

    embedding(ids, table) {
      return sym(node('Gather', [value(table), ids.name], { axis: { i: 0 } }), [...ids.shape, table.shape[1]]);
    },
    tokenMask(ids, padId) {
      const pad = graph.int64Initializer('pad_id', [padId], true);
      return sym(node('Cast', [node('Not', [node('Equal', [ids.name, pad])])], { to: { i: 1 } }), ids.shape);
    },

    imageInput(name, height, width, channels) {
      graph.addInput({ name, dtype: 'float32', dims: [-1, channels, height, width] });
      return sym(name, [-1, height, width, channels], true);
    },
    tensorInput(name, tail, dtype) {
      graph.addInput({ name, dtype, dims: [-1, ...tail] });
      return sym(name, [-1, ...tail]);
    },
    output(name, x) {
      const dims = x.image ? [x.shape[0], x.shape[3], x.shape[1], x.shape[2]] : x.shape;
      graph.addOutput(value(x), { name, dtype: 'float32', dims });
    },
    unusedWeights: () => [...weights.keys()].filter((k) => !used.has(k)),
  };
  return ops;
}
