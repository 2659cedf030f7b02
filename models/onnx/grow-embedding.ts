import onnxProto from 'onnx-proto';
import { InvalidArgumentError } from '../errors.ts';
import { FLOAT_BYTES } from './writer.ts';

const { onnx } = onnxProto;

/**
 * Append `rows` zero rows to an exported embedding table (the initializer whose name starts with
 * `tablePrefix`), so a vocabulary can gain tokens without retraining: every existing id keeps its row and
 * its output, and a new id looks up zeros — "a token this network never saw". Float32 or float16 raw data.
 */
export function growEmbedding(model: Uint8Array, tablePrefix: string, rows: number): Uint8Array {
  const m = onnx.ModelProto.decode(model);
  const table = m.graph?.initializer?.find((t) => String(t.name).startsWith(tablePrefix));
  if (!table?.rawData || table.dims?.length !== 2) throw new InvalidArgumentError('model', `no 2-D raw initializer named ${tablePrefix}*`);
  const width = FLOAT_BYTES[table.dataType ?? -1];
  if (!width) throw new InvalidArgumentError('model', `${table.name}: data type ${table.dataType} is neither float32 nor float16`);
  const [n, d] = table.dims.map(Number);
  const grown = new Uint8Array((n + rows) * d * width); // IEEE zero is all zero bytes in both widths
  grown.set(table.rawData);
  table.rawData = grown;
  table.dims = [n + rows, d];
  return onnx.ModelProto.encode(m).finish();
}
