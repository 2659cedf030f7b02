import type { Ops } from '../../models/nn/ops.ts';
import { OnnxGraph } from '../../models/onnx/graph.ts';
import { onnxOps, type Sym } from '../../models/onnx/ops.ts';
import { encodeModel } from '../../models/onnx/writer.ts';
import type { Objective, ParamSpec } from '../objective.ts';
import { GradTape, gradOps } from './grad-ops.ts';
import { blockConvs } from './nchwc.ts';

export interface OptimizerSettings {
  weightDecay: number;
  clipNorm: number;
  /** EMA decay of the parameters; undefined = no EMA input or output. */
  emaDecay?: number;
  beta1: number;
  beta2: number;
  epsilon: number;
}

export interface TrainGraphOptions {
  /** Also output the flat raw gradient `grads` (before clipping): gradient tests. */
  exposeGradients?: boolean;
  /** onnxruntime's NCHWc block size (`nchwcBlockSize()`): convs move onto its blocked kernels; 0 or absent = generic convs. */
  nchwcBlock?: number;
}

/** Conv filters are stored [cout, cin, kh, kw] in the training graph and the ORT engine; the rest as declared. */
export const storedShape = (p: ParamSpec): number[] => (p.filter ? [p.shape[3], p.shape[2], p.shape[0], p.shape[1]] : p.shape);
export const paramInputName = (key: string): string => `param:${key}`;

/**
 * One training step as one ONNX graph: inputs are the parameters, the flat AdamW moments and EMA,
 * the scalars `lr`, `c1` = 1/(1−β₁ᵗ), `c2` = 1/(1−β₂ᵗ) and `ema_decay` (so warm-up, decay and bias correction need no new
 * graph), and the objective's data; outputs are the loss, the global gradient norm and the updated vectors.
 * AdamW matches the tfjs loop: global-norm clipping, decoupled decay on parameters of rank > 1.
 */
export function buildTrainGraph(
  objective: Objective,
  params: ParamSpec[],
  opt: OptimizerSettings,
  options: TrainGraphOptions = {},
): Uint8Array {
  const graph = new OnnxGraph(`train_${objective.name}`);
  const tape = new GradTape(graph, options.nchwcBlock ?? 0);
  const total = params.reduce((s, p) => s + p.size, 0);
  const vec = (name: string) => graph.addInput({ name, dtype: 'float32', dims: [total] });
  const [m, v] = [vec('adam_m'), vec('adam_v')];
  const ema = opt.emaDecay !== undefined ? vec('ema') : undefined;
  const [lr, c1, c2] = ['lr', 'c1', 'c2'].map((name) => graph.addInput({ name, dtype: 'float32', dims: [] }));
  const emaDecay = ema ? graph.addInput({ name: 'ema_decay', dtype: 'float32', dims: [] }) : undefined;
  const { loss, paramSym } = traceLoss(graph, objective, params, tape);

  const grads = tape.gradients(
    loss,
    params.map((p) => paramSym(p.key)),
  );
  const n = (op: string, ins: string[], attrs = {}) => graph.node(op, ins, attrs)[0];
  const c = (x: number) => graph.floatInitializer('opt', [], Float32Array.of(x));
  const g = n(
    'Concat',
    grads.map((gr, i) =>
      gr
        ? n('Reshape', [gr, graph.int64Initializer('flat', [-1])])
        : graph.floatInitializer('zero_grad', [params[i].size], new Float32Array(params[i].size)),
    ),
    { axis: { i: 0 } },
  );
  const flat = n(
    'Concat',
    params.map((p) => n('Reshape', [paramSym(p.key).name, graph.int64Initializer('flat', [-1])])),
    { axis: { i: 0 } },
  );
  // Every vector-sized node streams 15 MB per million parameters, so scalar factors are folded first: the clip
  // scale s into the moments' weights, and the bias corrections into the step size and ε, as
  // c₁·m / (√(c₂·v) + ε) = (c₁/√c₂) · m / (√v + ε/√c₂).
  const norm = n('Sqrt', [n('ReduceSumSquare', [g], { keepdims: { i: 0 } })]);
  const scale = n('Div', [c(opt.clipNorm), n('Max', [norm, c(opt.clipNorm)])]);
  const m2 = n('Add', [n('Mul', [m, c(opt.beta1)]), n('Mul', [g, n('Mul', [scale, c(1 - opt.beta1)])])]);
  const v2 = n('Add', [n('Mul', [v, c(opt.beta2)]), n('Mul', [n('Mul', [g, g]), n('Mul', [n('Mul', [scale, scale]), c(1 - opt.beta2)])])]);
  const rootC2 = n('Sqrt', [c2]);
  const adam = n('Div', [m2, n('Add', [n('Sqrt', [v2]), n('Div', [c(opt.epsilon), rootC2])])]);
  const stepSize = n('Div', [c1, rootC2]);
  let p2: string;
  if (opt.weightDecay > 0) {
    const mask = new Float32Array(total);
    for (const p of params) if (p.shape.length > 1) mask.fill(opt.weightDecay, p.offset, p.offset + p.size);
    const update = n('Add', [n('Mul', [adam, stepSize]), n('Mul', [flat, graph.floatInitializer('decay', [total], mask)])]);
    p2 = n('Sub', [flat, n('Mul', [update, lr])]);
  } else p2 = n('Sub', [flat, n('Mul', [adam, n('Mul', [stepSize, lr])])]);
  const out = (name: string, from: string, dims: number[]) => graph.addOutput(from, { name, dtype: 'float32', dims });
  out('loss', loss.name, []);
  out('grad_norm', norm, []);
  out('params_out', p2, [total]);
  out('adam_m_out', m2, [total]);
  out('adam_v_out', v2, [total]);
  // ema + (1 − d)(p − ema) = d·ema + (1 − d)·p, with d fed per step (warm-up).
  if (ema && emaDecay) out('ema_out', n('Add', [ema, n('Mul', [n('Sub', [p2, ema]), n('Sub', [c(1), emaDecay])])]), [total]);
  if (options.exposeGradients) out('grads', g, [total]);
  blockConvs(graph, options.nchwcBlock ?? 0);
  outputsInPlace(graph);
  return encodeModel(graph, { network: `train_${objective.name}` });
}

/**
 * Graph outputs written by their producing nodes instead of copied by the builder's Identity nodes: onnxruntime
 * runs each Identity as a copy, and the step's outputs are the parameter-sized vectors (≈ 5 ms a step at 3.7 M).
 */
function outputsInPlace(graph: OnnxGraph): void {
  const outputs = new Set(graph.outputs.map((o) => o.name));
  const produced = new Set(graph.nodes.flatMap((node) => node.outputs));
  const renamed = new Map<string, string>();
  const copies = new Set(
    graph.nodes.filter((node) => {
      const [from] = node.inputs;
      if (node.opType !== 'Identity' || node.domain || !outputs.has(node.outputs[0])) return false;
      if (!produced.has(from) || outputs.has(from) || renamed.has(from)) return false;
      renamed.set(from, node.outputs[0]);
      return true;
    }),
  );
  const rename = (names: string[]) => names.map((name) => renamed.get(name) ?? name);
  const kept = graph.nodes
    .filter((node) => !copies.has(node))
    .map((node) => ({ ...node, inputs: rename(node.inputs), outputs: rename(node.outputs) }));
  graph.nodes.splice(0, graph.nodes.length, ...kept);
}

/**
 * The objective's loss traced into `graph`: one input per parameter (views of the engine's flat vector, no
 * slicing in the graph; conv filters arrive [cout, cin, kh, kw], as Conv takes them, so no forward transposes)
 * and one per data input; with a tape, every op also records its VJP.
 */
function traceLoss(graph: OnnxGraph, objective: Objective, params: ParamSpec[], tape?: GradTape) {
  const syms = new Map<string, Sym>();
  for (const p of params) {
    const name = graph.addInput({ name: paramInputName(p.key), dtype: 'float32', dims: storedShape(p) });
    const sym: Sym = { name, shape: p.shape, image: false, oihw: p.filter };
    syms.set(p.key, tape ? tape.track(sym) : sym);
  }
  const paramSym = (key: string): Sym => {
    const s = syms.get(key);
    if (!s) throw new Error(`objective ${objective.name} asked for parameter ${key}, which shape discovery did not see`);
    return s;
  };
  const views = new Map<string, Ops<Sym>>();
  const net = (network: string) => {
    let view = views.get(network);
    if (!view) {
      const base = onnxOps(graph, new Map(), { params: (name) => paramSym(`${network}/${name}`) });
      view = tape ? gradOps(base, tape) : base;
      views.set(network, view);
    }
    return view;
  };
  const inputs: Record<string, Sym> = {};
  for (const [name, spec] of Object.entries(objective.inputs)) {
    graph.addInput({ name, dtype: spec.dtype === 'int32' ? 'int64' : 'float32', dims: spec.shape });
    // Images arrive NHWC as the objective builds them; the builder's image tensors are NCHW.
    inputs[name] = spec.image
      ? { name: graph.node('Transpose', [name], { perm: { ints: [0, 3, 1, 2] } })[0], shape: spec.shape, image: true }
      : { name, shape: spec.shape, image: false };
  }
  return { loss: objective.loss(net, inputs), paramSym };
}

/**
 * The training graph's forward half alone: the loss from parameters fed as inputs, as the step computes it. The
 * train-step bench times it beside the exported inference graph, whose weights are initializers that onnxruntime
 * can pre-pack, to tell the backward pass's cost from what fed weights cost the forward.
 */
export function buildForwardGraph(
  objective: Objective,
  params: ParamSpec[],
  options: Pick<TrainGraphOptions, 'nchwcBlock'> = {},
): Uint8Array {
  const graph = new OnnxGraph(`forward_${objective.name}`);
  const { loss } = traceLoss(graph, objective, params);
  graph.addOutput(loss.name, { name: 'loss', dtype: 'float32', dims: [] });
  blockConvs(graph, options.nchwcBlock ?? 0);
  return encodeModel(graph, { network: `forward_${objective.name}` });
}
