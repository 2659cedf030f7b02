import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';
import { InvalidArgumentError } from '../errors.ts';
import { FLOAT_BYTES } from './writer.ts';

const { onnx } = onnxProto;

/** Input channels a Conv gets on WebGPU: the next multiple of this. */
export const WEBGPU_CONV_CHANNEL_MULTIPLE = 4;

/**
 * An exported graph whose Convs all read a multiple of 4 input channels: zero channels are padded onto the
 * input (a Pad node) and zero input-channel slices onto the filter, which leaves every output unchanged.
 * onnxruntime-web's WebGPU Conv miscomputes for some channel counts that are not multiples of 4 — every
 * output wrong for 6, 9, 15, 18, 21, 27, 30, 33, 39 (3×3 filters; measured in Chromium with onnxruntime-web
 * 1.23.2 and 1.30.0; multiples of 4 always right) — and the upscaler's first Conv reads 6 (sample + low-res
 * image). Bytes come back unchanged when no Conv needs it.
 */
export function padConvInputChannels(bytes: Uint8Array): Uint8Array {
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph;
  if (!graph?.node) throw new InvalidArgumentError('model', 'no graph');
  const initializers = new Map((graph.initializer ?? []).map((t) => [t.name!, t]));
  const producer = new Map<string, OnnxTypes.INodeProto>();
  const uses = new Map<string, number>();
  for (const n of graph.node) {
    for (const o of n.output ?? []) producer.set(o, n);
    for (const i of n.input ?? []) uses.set(i, (uses.get(i) ?? 0) + 1);
  }
  // The filter's initializer: the Conv's weight input itself, or what a Cast (float16 weights) reads.
  const filterOf = (name: string) => {
    const cast = producer.get(name);
    const source = cast?.opType === 'Cast' ? cast.input![0] : name;
    return (uses.get(source) ?? 0) === 1 && (!cast || uses.get(name) === 1) ? initializers.get(source) : undefined;
  };

  const out: OnnxTypes.INodeProto[] = [];
  let padded = 0;
  for (const n of graph.node) {
    const group = n.attribute?.find((a) => a.name === 'group');
    const filter = n.opType === 'Conv' && !(group && Number(group.i) !== 1) ? filterOf(n.input![1]) : undefined;
    const cin = filter?.dims?.length === 4 ? Number(filter.dims[1]) : 0;
    const to = Math.ceil(cin / WEBGPU_CONV_CHANNEL_MULTIPLE) * WEBGPU_CONV_CHANNEL_MULTIPLE;
    if (filter && cin % WEBGPU_CONV_CHANNEL_MULTIPLE !== 0) {
      padFilter(filter, to);
      const pads = `${n.output![0]}__channel_pads`;
      graph.initializer!.push({
        name: pads,
        dims: [8],
        dataType: onnx.TensorProto.DataType.INT64,
        rawData: new Uint8Array(BigInt64Array.of(0n, 0n, 0n, 0n, 0n, BigInt(to - cin), 0n, 0n).buffer),
      });
      const input = `${n.input![0]}__padded_for_${n.output![0]}`;
      out.push({ name: `pad_${input}`, opType: 'Pad', input: [n.input![0], pads], output: [input] });
      n.input![0] = input;
      padded++;
    }
    out.push(n);
  }
  if (padded === 0) return bytes;
  graph.node = out;
  return onnx.ModelProto.encode(model).finish();
}

/** [cout, cin, kh, kw] → [cout, to, kh, kw], the new input channels zero. */
function padFilter(t: OnnxTypes.ITensorProto, to: number): void {
  const width = FLOAT_BYTES[t.dataType ?? -1];
  if (!width || !t.rawData?.length) throw new InvalidArgumentError('model', `${t.name}: not a float32/float16 raw initializer`);
  const [cout, cin, kh, kw] = t.dims!.map(Number);
  const from = cin * kh * kw * width;
  const grown = new Uint8Array(cout * to * kh * kw * width); // IEEE zero is all zero bytes in both widths
  for (let o = 0; o < cout; o++) grown.set(t.rawData.subarray(o * from, (o + 1) * from), o * to * kh * kw * width);
  t.rawData = grown;
  t.dims = [cout, to, kh, kw];
}
