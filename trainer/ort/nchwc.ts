import * as ort from 'onnxruntime-node';
import { OnnxGraph, type OnnxNode } from '../../models/onnx/graph.ts';
import { encodeModel } from '../../models/onnx/writer.ts';

const NCHWC = 'com.microsoft.nchwc';

function nchwcNode(graph: OnnxGraph, opType: string, inputs: string[], attributes: OnnxNode['attributes'] = {}): string {
  const [out] = graph.node(opType, inputs, attributes);
  graph.nodes[graph.nodes.length - 1].domain = NCHWC;
  return out;
}

/**
 * onnxruntime's NCHWc block (channels per vector block: 8 with AVX2, 16 with AVX-512), or 0 where this build has
 * no NCHWc kernels (e.g. not x86-64). Read off the kernel itself: ReorderInput pads 4 channels up to one block.
 */
export const nchwcBlockSize: () => Promise<number> = (() => {
  let probe: Promise<number> | undefined;
  return () => {
    probe ??= (async () => {
      const probeGraph = new OnnxGraph('nchwc_probe');
      probeGraph.addInput({ name: 'x', dtype: 'float32', dims: [1, 4, 1, 1] });
      probeGraph.addOutput(nchwcNode(probeGraph, 'ReorderInput', ['x']), { name: 'y', dtype: 'float32', dims: [1, 'c', 1, 1] });
      try {
        const session = await ort.InferenceSession.create(encodeModel(probeGraph), { graphOptimizationLevel: 'disabled' });
        const out = await session.run({ x: new ort.Tensor('float32', new Float32Array(4), [1, 4, 1, 1]) });
        await session.release();
        return out.y.dims[1];
      } catch {
        // No such kernel in this build: train on the generic convs.
        return 0;
      }
    })();
    return probe;
  };
})();

/**
 * Moves every Conv whose filter is computed in the graph (fed parameters, the flipped filters of input gradients,
 * dy as the filter of a filter gradient) onto onnxruntime's blocked NCHWc kernels, as onnxruntime itself does only
 * for constant filters: the filter is reordered OIHW → OIHWBiBo by a Reshape–Transpose–Reshape each run, the activations by
 * ReorderInput/ReorderOutput around the conv. Measured on 2 AVX2 cores, batch 32: 1.1–2.3× the generic im2col
 * path per conv, reorders included. Convs whose channel counts are not whole blocks, grouped convs, and filters
 * whose shape cannot be read statically stay as they are. Returns how many convs moved.
 */
export function blockConvs(graph: OnnxGraph, block: number): number {
  if (block <= 1) return 0;
  const { shapes, constants } = staticShapes(graph);
  const original = graph.nodes.splice(0);
  const n = (opType: string, inputs: string[], attributes: OnnxNode['attributes'] = {}) => graph.node(opType, inputs, attributes)[0];
  const reshape = (x: string, shape: number[]) => n('Reshape', [x, graph.int64Initializer('nchwc_shape', shape)]);
  // Blocked twins of NCHW tensors, so that a tensor feeding several convs, or a conv feeding a conv, is reordered once.
  const blocked = new Map<string, string>();
  const blockedTwin = (x: string) => {
    let xb = blocked.get(x);
    if (!xb) {
      xb = nchwcNode(graph, 'ReorderInput', [x]);
      blocked.set(x, xb);
    }
    return xb;
  };
  const producers = new Map(original.flatMap((node) => node.outputs.map((out) => [out, node] as const)));
  // The Transposes whose output a composed filter reorder reads past, dropped below if nothing else reads them.
  const bypassed = new Set<string>();
  // A Slice that reverses exactly `axes` of a tensor of `shape`, whole (the spatial flip of an input gradient's filter).
  const reverses = (node: OnnxNode | undefined, axes: number[], shape: number[]) => {
    if (node?.opType !== 'Slice' || node.domain) return false;
    const [starts, ends, sliced, steps] = node.inputs.slice(1).map((name) => (name ? constants.get(name) : undefined));
    if (!starts || !ends || !sliced || !steps || sliced.length !== axes.length) return false;
    return sliced.every((axis, k) => {
      const a = (axis + shape.length) % shape.length;
      return axes.includes(a) && starts[k] === -1 && steps[k] === -1 && ends[k] <= -shape[a] - 1;
    });
  };
  // OIHW → OIHWBiBo as one Transpose of a [O/B, B, I/B, B, H, W] view. A filter that is itself a Transpose of a tensor
  // of known shape (dy as the filter of a filter gradient) is reordered from that tensor in one Transpose, not two;
  // one that is a Transpose of a spatially flipped tensor (an input gradient's) is reordered first and flipped after,
  // by a Gather that moves whole B×B blocks (measured 2× faster than Slice's element-wise reversal before it).
  const reorderFilter = (filter: string, [cout, cin, kh, kw]: number[]) => {
    const source = producers.get(filter);
    const perm = source?.opType === 'Transpose' && !source.domain ? source.attributes.perm : undefined;
    if (!source || !perm || !('ints' in perm) || perm.ints.length !== 4 || !shapes.get(source.inputs[0])) {
      const view = reshape(filter, [cout / block, block, cin / block, block, kh, kw]);
      return n('Transpose', [view], { perm: { ints: [0, 2, 4, 5, 3, 1] } });
    }
    const [o, i, h, w] = perm.ints;
    bypassed.add(filter);
    let input = source.inputs[0];
    const flip = producers.get(input);
    const flipped = reverses(flip, [h, w], shapes.get(input)!);
    if (flip && flipped) {
      bypassed.add(input);
      input = flip.inputs[0];
    }
    // Split the source's axes that become O and I into (outer, block); the rest keep their size.
    const dims: number[] = [];
    const at: Record<string, number> = {};
    shapes.get(input)!.forEach((size, axis) => {
      const split = axis === o ? ['oo', 'ob'] : axis === i ? ['io', 'ib'] : undefined;
      if (split) {
        at[split[0]] = dims.push(size / block) - 1;
        at[split[1]] = dims.push(block) - 1;
      } else at[axis] = dims.push(size) - 1;
    });
    const blocked = n('Transpose', [reshape(input, dims)], { perm: { ints: [at.oo, at.io, at[h], at[w], at.ib, at.ob] } });
    if (!flipped) return blocked;
    // Reversing the flattened H·W index reverses both axes.
    const taps = Array.from({ length: kh * kw }, (_, k) => kh * kw - 1 - k);
    const rows = reshape(blocked, [(cout / block) * (cin / block), kh * kw, block * block]);
    return n('Gather', [rows, graph.int64Initializer('nchwc_flip', taps)], { axis: { i: 1 } });
  };
  let moved = 0;
  for (const node of original) {
    const w = node.opType === 'Conv' && !node.domain ? shapes.get(node.inputs[1]) : undefined;
    const group = node.attributes.group;
    const grouped = group && 'i' in group && group.i !== 1;
    if (w?.length !== 4 || grouped || w[0] % block || w[1] % block) {
      graph.nodes.push(node);
      continue;
    }
    const [x, filter, bias] = node.inputs;
    const reordered = reshape(reorderFilter(filter, w), w);
    const yb = nchwcNode(graph, 'Conv', [blockedTwin(x), reordered, ...(bias ? [bias] : [])], node.attributes);
    graph.nodes.push({
      opType: 'ReorderOutput',
      domain: NCHWC,
      inputs: [yb],
      outputs: node.outputs,
      name: node.name,
      attributes: { channels: { i: w[0] } },
    });
    blocked.set(node.outputs[0], yb);
    moved++;
  }
  // Bypassed nodes nothing reads any more go, last first, so that a flip read only by a dropped Transpose goes too.
  for (let k = graph.nodes.length - 1; k >= 0; k--) {
    const out = graph.nodes[k].outputs[0];
    if (!bypassed.has(out) || graph.outputs.some((o) => o.name === out)) continue;
    if (!graph.nodes.some((node) => node.inputs.includes(out))) graph.nodes.splice(k, 1);
  }
  // and the constants only they read (onnxruntime warns of each unused initializer).
  const read = new Set([...graph.nodes.flatMap((node) => node.inputs), ...graph.outputs.map((o) => o.name)]);
  graph.initializers.splice(0, graph.initializers.length, ...graph.initializers.filter((init) => read.has(init.name)));
  return moved;
}

/**
 * Static shapes of the values a conv filter can come from: graph inputs, initializers, Reshapes to a constant
 * shape, and Transpose and Slice nodes over known shapes with constant arguments. Other values are absent (unknown).
 * Also the int64 initializers' values.
 */
function staticShapes(graph: OnnxGraph): { shapes: Map<string, number[]>; constants: Map<string, number[]> } {
  const shapes = new Map<string, number[]>();
  const constants = new Map<string, number[]>();
  for (const input of graph.inputs)
    if (input.dims.every((d) => typeof d === 'number' && d >= 0)) shapes.set(input.name, input.dims as number[]);
  for (const init of graph.initializers) {
    shapes.set(init.name, init.dims);
    if (init.dtype === 'int64') constants.set(init.name, [...new BigInt64Array(init.data.slice().buffer)].map(Number));
  }
  for (const node of graph.nodes) {
    if (node.domain) continue;
    const s = shapes.get(node.inputs[0]);
    let out: number[] | undefined;
    if (node.opType === 'Reshape') {
      const target = constants.get(node.inputs[1]);
      if (target?.every((d) => d > 0)) out = target;
      else if (target && s) {
        const dims = target.map((d, i) => (d === 0 ? s[i] : d));
        const known = dims.reduce((a, d) => (d === -1 ? a : a * d), 1);
        out = dims.map((d) => (d === -1 ? s.reduce((a, b) => a * b, 1) / known : d));
      }
    } else if (!s) continue;
    else if (node.opType === 'Transpose') {
      const perm = node.attributes.perm;
      out = perm && 'ints' in perm ? perm.ints.map((p) => s[p]) : [...s].reverse();
    } else if (node.opType === 'Slice') {
      out = sliceShape(
        s,
        node.inputs.slice(1).map((name) => (name ? constants.get(name) : undefined)),
      );
    }
    if (out) shapes.set(node.outputs[0], out);
  }
  return { shapes, constants };
}

/** ONNX Slice's output shape (opset 13+: starts, ends, axes, steps), with its clamping rules. */
export function sliceShape(shape: number[], [starts, ends, axes, steps]: (number[] | undefined)[]): number[] | undefined {
  if (!starts || !ends) return undefined;
  const out = [...shape];
  for (let k = 0; k < starts.length; k++) {
    const axis = axes ? (axes[k] + shape.length) % shape.length : k;
    const dim = shape[axis];
    const step = steps ? steps[k] : 1;
    const at = (v: number) => (v < 0 ? v + dim : v);
    if (step > 0) {
      const [b, e] = [Math.min(Math.max(at(starts[k]), 0), dim), Math.min(Math.max(at(ends[k]), 0), dim)];
      out[axis] = Math.max(0, Math.ceil((e - b) / step));
    } else {
      const [b, e] = [Math.min(Math.max(at(starts[k]), 0), dim - 1), Math.min(Math.max(at(ends[k]), -1), dim - 1)];
      out[axis] = Math.max(0, Math.ceil((e - b) / step));
    }
  }
  return out;
}
