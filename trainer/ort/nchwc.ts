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
  const shapes = staticShapes(graph);
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
  // OIHW → OIHWBiBo as one Transpose of a [O/B, B, I/B, B, H, W] view. A filter that is itself a Transpose of a tensor
  // of known shape (dy as the filter of a filter gradient) is reordered from that tensor in one Transpose, not two.
  const reorderFilter = (filter: string, [cout, cin, kh, kw]: number[]) => {
    const source = producers.get(filter);
    const perm = source?.opType === 'Transpose' && !source.domain ? source.attributes.perm : undefined;
    const from = source && perm && 'ints' in perm ? shapes.get(source.inputs[0]) : undefined;
    if (!source || !from || !perm || !('ints' in perm) || perm.ints.length !== 4) {
      const view = reshape(filter, [cout / block, block, cin / block, block, kh, kw]);
      return n('Transpose', [view], { perm: { ints: [0, 2, 4, 5, 3, 1] } });
    }
    // Split the source's axes that become O and I into (outer, block); the rest keep their size.
    const [o, i, h, w] = perm.ints;
    const dims: number[] = [];
    const at: Record<string, number> = {};
    from.forEach((size, axis) => {
      const split = axis === o ? ['oo', 'ob'] : axis === i ? ['io', 'ib'] : undefined;
      if (split) {
        at[split[0]] = dims.push(size / block) - 1;
        at[split[1]] = dims.push(block) - 1;
      } else at[axis] = dims.push(size) - 1;
    });
    bypassed.add(filter);
    return n('Transpose', [reshape(source.inputs[0], dims)], { perm: { ints: [at.oo, at.io, at[h], at[w], at.ib, at.ob] } });
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
  const read = new Set([...graph.nodes.flatMap((node) => node.inputs), ...graph.outputs.map((o) => o.name)]);
  graph.nodes.splice(0, graph.nodes.length, ...graph.nodes.filter((node) => !bypassed.has(node.outputs[0]) || read.has(node.outputs[0])));
  return moved;
}

/**
 * Static shapes of the values a conv filter can come from: graph inputs, initializers, Reshapes to a constant
 * shape, and Transpose and Slice nodes over known shapes with constant arguments. Other values are absent (unknown).
 */
function staticShapes(graph: OnnxGraph): Map<string, number[]> {
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
  return shapes;
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
