import type { Ops, ParamInit } from '../models/nn/ops.ts';
import { flopCounter } from '../models/nn/flops.ts';
import { weightSize } from '../models/nn/weights.ts';

/** One input of a training objective, batch axis included. Images are NHWC, as the ops interface sees them. */
export interface InputSpec {
  shape: number[];
  dtype: 'float32' | 'int32';
  image?: boolean;
}

export type Feeds = Record<string, Float32Array | Int32Array>;

/**
 * What a stage trains, independent of the engine that trains it: its inputs, the loss written once against
 * the ops interface (so tfjs and the ONNX training graph run the same definition), and the batch of each step,
 * built in plain JS from (seed, step) so that every engine sees the same data and a resumed run replays it.
 */
export interface Objective {
  name: string;
  inputs: Record<string, InputSpec>;
  /** The scalar loss; `net(name)` is the ops interface whose parameters belong to network `name`. */
  loss<T>(net: (network: string) => Ops<T>, inputs: Record<string, T>): T;
  batch(step: number): Feeds;
}

/** A trainable parameter: `key` = network/name (the checkpoint key), with its place in a flat vector. */
export interface ParamSpec {
  key: string;
  network: string;
  name: string;
  shape: number[];
  init: ParamInit;
  offset: number;
  size: number;
  /** Used as a conv filter: the ORT engine stores it [cout, cin, kh, kw], as Conv takes it. */
  filter: boolean;
}

/** The parameters an objective uses, in first-use order, found by running it on shapes alone. */
export function objectiveParams(objective: Objective): ParamSpec[] {
  const specs = new Map<string, ParamSpec>();
  let offset = 0;
  const { ops } = flopCounter();
  const keyOf = new WeakMap<object, string>();
  const net = (network: string): Ops<{ shape: number[] }> => ({
    ...ops,
    param(name, shape, init) {
      const key = `${network}/${name}`;
      if (!specs.has(key)) {
        const size = weightSize(shape);
        specs.set(key, { key, network, name, shape, init, offset, size, filter: false });
        offset += size;
      }
      const t = ops.param(name, shape, init);
      keyOf.set(t, key);
      return t;
    },
    conv2d(x, w, b, options) {
      const key = keyOf.get(w);
      if (key) specs.get(key)!.filter = true;
      return ops.conv2d(x, w, b, options);
    },
  });
  const inputs = Object.fromEntries(Object.entries(objective.inputs).map(([k, v]) => [k, { shape: v.shape }]));
  objective.loss(net, inputs);
  return [...specs.values()];
}
