import * as tf from '@tensorflow/tfjs-core';
import { type ConvOptions, geluParts, type Ops, type ParamInit, siluParts } from '../../models/nn/ops.ts';
import type { ParamStore } from './params.ts';

type T = tf.Tensor;

/** The ops interface on TensorFlow.js: executes eagerly and is differentiable on every back end. */
export function tfjsOps(store: ParamStore): Ops<T> {
  const withBatch = (x: T, tail: number[]) => [x.shape[0], ...tail];
  const ops: Ops<T> = {
    backend: 'tfjs',
    param: (name: string, shape: number[], init: ParamInit) => store.get(name, shape, init),
    constant: (values, shape) => tf.tensor(values, shape),
    shape: (x) => x.shape,

    add: (a, b) => tf.add(a, b),
    sub: (a, b) => tf.sub(a, b),
    mul: (a, b) => tf.mul(a, b),
    div: (a, b) => tf.div(a, b),
    scale: (x, s) => tf.mul(x, s),
    addScalar: (x, s) => tf.add(x, s),
    sigmoid: (x) => tf.sigmoid(x),
    tanh: (x) => tf.tanh(x),
    silu: (x) => siluParts(ops, x).y,
    gelu: (x) => geluParts(ops, x).y,
    sin: (x) => tf.sin(x),
    cos: (x) => tf.cos(x),
    exp: (x) => tf.exp(x),
    sqrt: (x) => tf.sqrt(x),
    abs: (x) => tf.abs(x),
    clip: (x, lo, hi) => tf.clipByValue(x, lo, hi),

    linear(x, w, b) {
      const inDim = x.shape[x.shape.length - 1];
      const outDim = w.shape[1] as number;
      // Fused bias: one kernel and one fewer full-size intermediate per layer, forward and backward.
      const y = tf.fused.matMul({ a: tf.reshape(x, [-1, inDim]) as tf.Tensor2D, b: w as tf.Tensor2D, bias: b });
      return tf.reshape(y, [...x.shape.slice(0, -1), outDim]);
    },
    matmul: (a, b, transposeB = false) => tf.matMul(a, b, false, transposeB),
    softmax: (x) => tf.softmax(x),
    logSoftmax: (x) => tf.logSoftmax(x),
    layerNorm(x, gamma, beta, eps) {
      const { mean, variance } = tf.moments(x, -1, true);
      return tf.add(tf.mul(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps))), gamma), beta);
    },
    sum: (x, axis) => tf.sum(x, axis),
    meanAll: (x) => tf.mean(x),

    reshape: (x, tail) => tf.reshape(x, withBatch(x, tail)),
    transpose: (x, perm) => tf.transpose(x, perm),
    concat: (xs, axis) => tf.concat(xs, axis),
    selectIndex(x, index) {
      const begin = x.shape.map((_, i) => (i === 1 ? index : 0));
      const size = x.shape.map((_, i) => (i === 1 ? 1 : -1));
      return tf.squeeze(tf.slice(x, begin, size), [1]);
    },

    conv2d(x, w, b, { stride = 1, pad }: ConvOptions) {
      const [top, bottom, left, right] = pad;
      return tf.fused.conv2d({
        x: x as tf.Tensor4D,
        filter: w as tf.Tensor4D,
        strides: stride,
        pad: [
          [0, 0],
          [top, bottom],
          [left, right],
          [0, 0],
        ],
        bias: b,
      });
    },
    groupNorm(x, groups, gamma, beta, eps) {
      const [n, h, w, c] = x.shape;
      const g = tf.reshape(x, [n, h, w, groups, c / groups]);
      const { mean, variance } = tf.moments(g, [1, 2, 4], true);
      const normed = tf.reshape(tf.mul(tf.sub(g, mean), tf.rsqrt(tf.add(variance, eps))), [n, h, w, c]);
      return tf.add(tf.mul(normed, gamma), beta);
    },
    upsample2x(x) {
      // Concat + reshape instead of ResizeNearestNeighbor: its gradient is missing or wrong on some back
      // ends (tfjs-backend-cpu 4.22 mis-handles batch > 1), while concat's gradient is a plain slice.
      const [n, h, w, c] = x.shape;
      const wide = tf.reshape(tf.concat([x, x], 3), [n, h, 2 * w, c]);
      return tf.reshape(tf.concat([wide, wide], 2), [n, 2 * h, 2 * w, c]);
    },
    globalAvgPool: (x) => tf.mean(x, [1, 2]),
    addChannelVector: (x, v) => tf.add(x, tf.reshape(v, [v.shape[0], 1, 1, v.shape[1] as number])),
    imageToTokens: (x) => tf.reshape(x, [x.shape[0], (x.shape[1] as number) * (x.shape[2] as number), x.shape[3] as number]),
    tokensToImage: (x, height, width) => tf.reshape(x, [x.shape[0], height, width, x.shape[2] as number]),

    embedding: (ids, table) => tf.gather(table, tf.cast(ids, 'int32')),
    tokenMask: (ids, padId) => tf.cast(tf.notEqual(ids, tf.scalar(padId, ids.dtype)), 'float32'),
  };
  return ops;
}
