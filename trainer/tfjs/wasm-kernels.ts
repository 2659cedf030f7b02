import {
  backend_util,
  BatchMatMul,
  Conv2DBackpropFilter,
  Conv2DBackpropInput,
  getKernel,
  registerKernel,
  unregisterKernel,
  UnsortedSegmentSum,
  type BatchMatMulAttrs,
  type Conv2DBackpropFilterAttrs,
  type Conv2DBackpropInputAttrs,
  type KernelFunc,
  type NamedAttrMap,
  type TensorInfo,
  type UnsortedSegmentSumAttrs,
} from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';

/**
 * Training kernels for tfjs-backend-wasm, composed from its own fast forward kernels:
 * - Conv2DBackpropFilter (missing): a forward Conv2D over transposed tensors, batch as channels, dilation = stride;
 * - Conv2DBackpropInput (slow, off XNNPACK): a forward Conv2D of the stride-dilated dy with the flipped filter;
 * - BatchMatMul with transposes (slow path): transpose operands first, then the untransposed fast kernel;
 * - UnsortedSegmentSum (missing; the gradient of Gather, i.e. of embeddings): a scatter-add in JS.
 */
type Inputs = Record<string, TensorInfo>;

class Scope {
  private readonly temps: TensorInfo[] = [];
  constructor(readonly backend: BackendWasm) {}

  run(kernel: string, inputs: Inputs, attrs: NamedAttrMap = {}, original?: KernelFunc): TensorInfo {
    const func = original ?? getKernel(kernel, 'wasm')?.kernelFunc;
    if (!func) throw new Error(`wasm kernel ${kernel} is not registered`);
    const out = func({ inputs, attrs, backend: this.backend }) as TensorInfo;
    this.temps.push(out);
    return out;
  }

  /** Dispose every intermediate except `keep`, which the caller returns to the engine. */
  finish(keep: TensorInfo): TensorInfo {
    for (const t of this.temps) if (t !== keep) this.backend.disposeData(t.dataId);
    return keep;
  }
}

function convPadding(xShape: number[], filterShape: number[], attrs: Conv2DBackpropFilterAttrs | Conv2DBackpropInputAttrs) {
  if (attrs.dataFormat && attrs.dataFormat !== 'NHWC')
    throw new Error(`wasm conv gradient: dataFormat ${attrs.dataFormat} is not supported`);
  return backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides,
    1,
    attrs.pad,
    attrs.dimRoundingMode,
    false,
    'channelsLast',
  );
}

const conv2dBackpropFilter: KernelFunc = ({ inputs, attrs, backend }) => {
  const { x, dy } = inputs as { x: TensorInfo; dy: TensorInfo };
  const a = attrs as unknown as Conv2DBackpropFilterAttrs;
  const info = convPadding(x.shape, a.filterShape, a);
  const s = new Scope(backend as BackendWasm);
  const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw, outHeight: oh, outWidth: ow } = info;
  const [, H, W] = x.shape;
  const { top, left } = info.padInfo;
  const bottom = kh - H - top + sh * (oh - 1);
  const right = kw - W - left + sw * (ow - 1);
  const xT = s.run('Transpose', { x }, { perm: [3, 1, 2, 0] }); // [ci, H, W, n]
  const dyT = s.run('Transpose', { x: dy }, { perm: [1, 2, 0, 3] }); // [oh, ow, n, co]
  let out = s.run('Conv2D', { x: xT, filter: dyT }, {
    strides: [1, 1],
    pad: [
      [0, 0],
      [top, Math.max(bottom, 0)],
      [left, Math.max(right, 0)],
      [0, 0],
    ],
    dilations: [sh, sw],
    dataFormat: 'NHWC',
    dimRoundingMode: undefined,
  } as unknown as NamedAttrMap);
  // Negative padding means the forward conv never read the last rows: crop them from the result instead.
  if (out.shape[1] !== kh || out.shape[2] !== kw) out = s.run('Slice', { x: out }, { begin: [0, 0, 0, 0], size: [-1, kh, kw, -1] });
  return s.finish(s.run('Transpose', { x: out }, { perm: [1, 2, 0, 3] }));
};

/** Insert (stride − 1) zeros after every row and column of [N, h, w, C]: rank-4 pads only. */
function dilate(s: Scope, dy: TensorInfo, sh: number, sw: number): TensorInfo {
  const [n, h, w, c] = dy.shape;
  let t = dy;
  if (sw > 1) {
    t = s.run('Reshape', { x: t }, { shape: [n * h, w, 1, c] });
    t = s.run(
      'PadV2',
      { x: t },
      {
        paddings: [
          [0, 0],
          [0, 0],
          [0, sw - 1],
          [0, 0],
        ],
        constantValue: 0,
      },
    );
  }
  if (sh > 1) {
    t = s.run('Reshape', { x: t }, { shape: [n, h, 1, w * sw * c] });
    t = s.run(
      'PadV2',
      { x: t },
      {
        paddings: [
          [0, 0],
          [0, 0],
          [0, sh - 1],
          [0, 0],
        ],
        constantValue: 0,
      },
    );
  }
  return s.run('Reshape', { x: t }, { shape: [n, h * sh, w * sw, c] });
}

function conv2dBackpropInputFactory(original: KernelFunc): KernelFunc {
  return ({ inputs, attrs, backend }) => {
    const { dy, filter } = inputs as { dy: TensorInfo; filter: TensorInfo };
    const a = attrs as unknown as Conv2DBackpropInputAttrs;
    const info = convPadding(a.inputShape, filter.shape, a);
    const { filterHeight: kh, filterWidth: kw, strideHeight: sh, strideWidth: sw } = info;
    const { top, left } = info.padInfo;
    const pt = kh - 1 - top;
    const pl = kw - 1 - left;
    if (pt < 0 || pl < 0) return original({ inputs, attrs, backend });
    const s = new Scope(backend as BackendWasm);
    const [, H, W] = a.inputShape;
    let d = dilate(s, dy, sh, sw);
    let pb = H - d.shape[1] - pt + kh - 1;
    let pr = W - d.shape[2] - pl + kw - 1;
    if (pb < 0 || pr < 0) {
      d = s.run('Slice', { x: d }, { begin: [0, 0, 0, 0], size: [-1, d.shape[1] + Math.min(pb, 0), d.shape[2] + Math.min(pr, 0), -1] });
      pb = Math.max(pb, 0);
      pr = Math.max(pr, 0);
    }
    const flipped = s.run('Reverse', { x: filter }, { dims: [0, 1] });
    const f = s.run('Transpose', { x: flipped }, { perm: [0, 1, 3, 2] }); // [kh, kw, co, ci]
    const out = s.run('Conv2D', { x: d, filter: f }, {
      strides: [1, 1],
      pad: [
        [0, 0],
        [pt, pb],
        [pl, pr],
        [0, 0],
      ],
      dilations: [1, 1],
      dataFormat: 'NHWC',
      dimRoundingMode: undefined,
    } as unknown as NamedAttrMap);
    return s.finish(out);
  };
}

function batchMatMulFactory(original: KernelFunc): KernelFunc {
  return ({ inputs, attrs, backend }) => {
    const { transposeA, transposeB } = attrs as unknown as BatchMatMulAttrs;
    if (!transposeA && !transposeB) return original({ inputs, attrs, backend });
    const s = new Scope(backend as BackendWasm);
    const swapLast = (t: TensorInfo) => {
      const perm = t.shape.map((_, i) => i);
      perm.splice(-2, 2, perm.length - 1, perm.length - 2);
      return s.run('Transpose', { x: t }, { perm });
    };
    const ab = inputs as { a: TensorInfo; b: TensorInfo };
    const a = transposeA ? swapLast(ab.a) : ab.a;
    const b = transposeB ? swapLast(ab.b) : ab.b;
    const out = s.run(BatchMatMul, { a, b }, { ...attrs, transposeA: false, transposeB: false }, original);
    return s.finish(out);
  };
}

const unsortedSegmentSum: KernelFunc = ({ inputs, attrs, backend }) => {
  const wasm = backend as BackendWasm;
  const { x, segmentIds } = inputs as { x: TensorInfo; segmentIds: TensorInfo };
  const { numSegments } = attrs as unknown as UnsortedSegmentSumAttrs;
  const inner = x.shape.slice(segmentIds.shape.length).reduce((p, q) => p * q, 1);
  const out = wasm.makeOutput([numSegments, ...x.shape.slice(segmentIds.shape.length)], x.dtype);
  // Heap views are taken only after the last allocation: growing wasm memory detaches earlier views.
  const xs = wasm.typedArrayFromHeap(x);
  const ids = wasm.typedArrayFromHeap(segmentIds);
  const o = wasm.typedArrayFromHeap(out);
  o.fill(0);
  for (let r = 0; r < ids.length; r++) {
    const seg = ids[r];
    if (seg < 0 || seg >= numSegments) continue;
    const src = r * inner;
    const dst = seg * inner;
    for (let j = 0; j < inner; j++) o[dst + j] += xs[src + j];
  }
  return out;
};

let registered = false;

/** Idempotent: registers (or replaces) the training kernels on the wasm back end. */
export function registerWasmTrainingKernels(): void {
  if (registered) return;
  const replace = (name: string, make: (original: KernelFunc) => KernelFunc) => {
    const config = getKernel(name, 'wasm');
    if (!config) throw new Error(`wasm kernel ${name} is missing: is @tensorflow/tfjs-backend-wasm imported?`);
    unregisterKernel(name, 'wasm');
    // Keep setupFunc: it binds the wasm function the original kernel calls when the back end initialises.
    registerKernel({ ...config, kernelFunc: make(config.kernelFunc) });
  };
  registerKernel({ kernelName: Conv2DBackpropFilter, backendName: 'wasm', kernelFunc: conv2dBackpropFilter });
  registerKernel({ kernelName: UnsortedSegmentSum, backendName: 'wasm', kernelFunc: unsortedSegmentSum });
  replace(Conv2DBackpropInput, conv2dBackpropInputFactory);
  replace(BatchMatMul, batchMatMulFactory);
  registered = true;
}
