import onnxProto from 'onnx-proto';
import type { onnx as OnnxTypes } from 'onnx-proto';
import type { AttributeValue, OnnxDType, OnnxGraph, OnnxValueInfo } from './graph.ts';

const { onnx } = onnxProto;

export const OPSET = 17;
const IR_VERSION = 8;

const DATA_TYPE: Record<OnnxDType, number> = {
  float32: onnx.TensorProto.DataType.FLOAT,
  float16: onnx.TensorProto.DataType.FLOAT16,
  int64: onnx.TensorProto.DataType.INT64,
};

/** Bytes per element of the float data types whose initializers are stored as raw data, by ONNX data type. */
export const FLOAT_BYTES: Record<number, number> = { [onnx.TensorProto.DataType.FLOAT]: 4, [onnx.TensorProto.DataType.FLOAT16]: 2 };

function attribute(name: string, value: AttributeValue): OnnxTypes.IAttributeProto {
  const T = onnx.AttributeProto.AttributeType;
  if ('f' in value) return { name, type: T.FLOAT, f: value.f };
  if ('i' in value) return { name, type: T.INT, i: value.i };
  if ('s' in value) return { name, type: T.STRING, s: new TextEncoder().encode(value.s) };
  if ('ints' in value) return { name, type: T.INTS, ints: value.ints };
  return { name, type: T.FLOATS, floats: value.floats };
}

function valueInfo(info: OnnxValueInfo): OnnxTypes.IValueInfoProto {
  return {
    name: info.name,
    type: {
      tensorType: {
        elemType: DATA_TYPE[info.dtype],
        shape: { dim: info.dims.map((d) => (typeof d === 'string' ? { dimParam: d } : d < 0 ? { dimParam: 'batch' } : { dimValue: d })) },
      },
    },
  };
}

/** Serialise a graph as an ONNX ModelProto (opset 17), ready for onnxruntime. */
export function encodeModel(graph: OnnxGraph, metadata: Record<string, string> = {}): Uint8Array {
  const model: OnnxTypes.IModelProto = {
    irVersion: IR_VERSION,
    producerName: 'edge-diffusion',
    producerVersion: '0.1.0',
    opsetImport: [
      { domain: '', version: OPSET },
      ...[...new Set(graph.nodes.flatMap((n) => (n.domain ? [n.domain] : [])))].map((domain) => ({ domain, version: 1 })),
    ],
    metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
    graph: {
      name: graph.name,
      node: graph.nodes.map((n) => ({
        name: n.name,
        opType: n.opType,
        domain: n.domain,
        input: n.inputs,
        output: n.outputs,
        attribute: Object.entries(n.attributes).map(([k, v]) => attribute(k, v)),
      })),
      initializer: graph.initializers.map((t) => ({ name: t.name, dims: t.dims, dataType: DATA_TYPE[t.dtype], rawData: t.data })),
      input: graph.inputs.map(valueInfo),
      output: graph.outputs.map(valueInfo),
    },
  };
  return onnx.ModelProto.encode(model).finish();
}
