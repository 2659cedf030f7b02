import { InvalidArgumentError } from '../errors.ts';

export type OnnxDType = 'float32' | 'float16' | 'int64';

/** Tagged so that an integral float (epsilon = 1) is never mistaken for an int attribute. */
export type AttributeValue = { f: number } | { i: number } | { s: string } | { ints: number[] } | { floats: number[] };

export interface OnnxNode {
  opType: string;
  /** Operator set domain; absent = the default ONNX domain. */
  domain?: string;
  inputs: string[];
  outputs: string[];
  name: string;
  attributes: Record<string, AttributeValue>;
}

export interface OnnxInitializer {
  name: string;
  dims: number[];
  dtype: OnnxDType;
  /** Little-endian raw bytes in the initializer's dtype. */
  data: Uint8Array;
}

export interface OnnxValueInfo {
  name: string;
  dtype: OnnxDType;
  /** Static dims; -1 marks the dynamic batch axis, a name any other dynamic axis. */
  dims: (number | string)[];
}

/** A graph under construction: nodes in topological order, initializers, named inputs and outputs. */
export class OnnxGraph {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxInitializer[] = [];
  readonly inputs: OnnxValueInfo[] = [];
  readonly outputs: OnnxValueInfo[] = [];
  private counter = 0;
  private readonly names = new Set<string>();

  constructor(readonly name: string) {}

  fresh(hint: string): string {
    let name: string;
    do name = `${hint}_${this.counter++}`;
    while (this.names.has(name));
    this.names.add(name);
    return name;
  }

  claim(name: string): string {
    if (this.names.has(name)) throw new InvalidArgumentError('name', `'${name}' is already used in graph ${this.name}`);
    this.names.add(name);
    return name;
  }

  node(opType: string, inputs: string[], attributes: Record<string, AttributeValue> = {}, outputCount = 1): string[] {
    const outputs = Array.from({ length: outputCount }, () => this.fresh(opType.toLowerCase()));
    this.nodes.push({ opType, inputs, outputs, name: this.fresh(`n_${opType}`), attributes });
    return outputs;
  }

  initializer(hint: string, dims: number[], dtype: OnnxDType, data: Uint8Array, exactName = false): string {
    const name = exactName ? this.claim(hint) : this.fresh(hint);
    this.initializers.push({ name, dims, dtype, data });
    return name;
  }

  floatInitializer(hint: string, dims: number[], values: Float32Array, exactName = false): string {
    return this.initializer(
      hint,
      dims,
      'float32',
      new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength)),
      exactName,
    );
  }

  int64Initializer(hint: string, values: number[], scalar = false): string {
    const data = new BigInt64Array(values.map((v) => BigInt(v)));
    return this.initializer(hint, scalar ? [] : [values.length], 'int64', new Uint8Array(data.buffer));
  }

  addInput(info: OnnxValueInfo): string {
    this.claim(info.name);
    this.inputs.push(info);
    return info.name;
  }

  addOutput(from: string, info: OnnxValueInfo): void {
    this.claim(info.name);
    this.nodes.push({ opType: 'Identity', inputs: [from], outputs: [info.name], name: this.fresh('n_output'), attributes: {} });
    this.outputs.push(info);
  }
}
