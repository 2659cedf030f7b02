import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';
import { InvalidArgumentError } from '../errors.ts';
import { toFloat16Array } from './fp16.ts';

const { onnx } = onnxProto;
const { FLOAT, FLOAT16 } = onnx.TensorProto.DataType;

type Precision = 'f32' | 'f16';

/** Inputs that stay float32 whatever the node computes in (Resize's roi and scales). */
const FLOAT32_SLOTS: Record<string, number[]> = { Resize: [1, 2] };

/**
 * An exported graph (fp16 weights cast to float32, fp32 arithmetic) rewritten to compute in float16, for GPUs
 * with `shader-f16`: half the memory traffic. Inputs and outputs stay float32 (cast at the edges), and so does
 * what feeds a Sin or Cos — the timestep embedding: t·ω reaches ~1000, where float16 steps by 0.5. Everything
 * else computes in float16: the weights' Casts go, float32 constants become float16 where only float16 nodes
 * use them, and a Cast goes in wherever a value crosses between the two.
 */
export function halfPrecisionModel(bytes: Uint8Array): Uint8Array {
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph;
  if (!graph?.node) throw new InvalidArgumentError('model', 'no graph');
  const nodes = graph.node;
  const initializers = new Map((graph.initializer ?? []).map((t) => [t.name!, t]));
  const producer = new Map<string, OnnxTypes.INodeProto>();
  for (const n of nodes) for (const o of n.output ?? []) producer.set(o, n);
  const outputs = new Set((graph.output ?? []).map((o) => o.name!));

  // Nodes that stay float32: every ancestor of a Sin or Cos, and the nodes that produce graph outputs.
  const f32Nodes = new Set<OnnxTypes.INodeProto>();
  const keep = (n: OnnxTypes.INodeProto) => {
    if (f32Nodes.has(n)) return;
    f32Nodes.add(n);
    for (const i of n.input ?? []) {
      const p = producer.get(i);
      if (p) keep(p);
    }
  };
  for (const n of nodes) if (n.opType === 'Sin' || n.opType === 'Cos') keep(n);
  for (const n of nodes) if (n.output?.some((o) => outputs.has(o))) f32Nodes.add(n);
  const precisionOf = (n: OnnxTypes.INodeProto): Precision => (f32Nodes.has(n) ? 'f32' : 'f16');

  // Which float values each precision reads (int64 initializers and the float32-only slots aside).
  const isInt = (name: string) => {
    const t = initializers.get(name);
    return t !== undefined && t.dataType !== FLOAT && t.dataType !== FLOAT16;
  };
  const floatUses = (n: OnnxTypes.INodeProto) =>
    (n.input ?? [])
      .map((name, slot) => ({ name, slot }))
      .filter(({ name, slot }) => name !== '' && !isInt(name) && !FLOAT32_SLOTS[n.opType!]?.includes(slot));
  const readers = new Map<string, Set<Precision>>();
  for (const n of nodes) for (const { name } of floatUses(n)) readers.set(name, (readers.get(name) ?? new Set()).add(precisionOf(n)));

  // Weights: a float16 initializer's Cast to float32 is dropped where float16 nodes read its result.
  const alias = new Map<string, string>();
  const dtype = new Map<string, Precision>();
  for (const [name, t] of initializers) {
    if (t.dataType === FLOAT16) dtype.set(name, 'f16');
    if (t.dataType !== FLOAT) continue;
    const used = readers.get(name);
    if (used?.size === 1 && used.has('f16')) {
      const values = t.floatData?.length ? Float32Array.from(t.floatData) : new Float32Array(new Uint8Array(t.rawData!).slice().buffer);
      t.rawData = new Uint8Array(toFloat16Array(values).buffer);
      t.floatData = [];
      t.dataType = FLOAT16;
      dtype.set(name, 'f16');
    } else dtype.set(name, 'f32');
  }
  for (const i of graph.input ?? []) if (!initializers.has(i.name!)) dtype.set(i.name!, 'f32');

  const castAttribute = (to: Precision): OnnxTypes.IAttributeProto[] => [{ name: 'to', type: 2, i: to === 'f16' ? FLOAT16 : FLOAT }];
  const out: OnnxTypes.INodeProto[] = [];
  const casts = new Map<string, string>();
  const castTo = (name: string, to: Precision): string => {
    const key = `${name}->${to}`;
    let cast = casts.get(key);
    if (!cast) {
      cast = `${name}__${to}`;
      out.push({ name: `cast_${cast}`, opType: 'Cast', input: [name], output: [cast], attribute: castAttribute(to) });
      casts.set(key, cast);
    }
    return cast;
  };
  for (const n of nodes) {
    const p = precisionOf(n);
    const source = n.input?.[0] ?? '';
    if (n.opType === 'Cast' && p === 'f16' && dtype.get(source) === 'f16' && initializers.has(source)) {
      alias.set(n.output![0], source);
      continue;
    }
    // A Cast reads any type; everything else reads its float inputs in its own precision.
    const uses = new Set(n.opType === 'Cast' ? [] : floatUses(n).map((u) => u.slot));
    n.input = (n.input ?? []).map((name, slot) => {
      const from = alias.get(name) ?? name;
      if (!uses.has(slot)) return from;
      return dtype.get(from) === p ? from : castTo(from, p);
    });
    if (n.opType === 'Cast') n.attribute = castAttribute(p);
    for (const o of n.output ?? []) dtype.set(o, p);
    out.push(n);
  }
  graph.node = out;
  return onnx.ModelProto.encode(model).finish();
}
