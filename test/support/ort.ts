import type { FeedValue } from './tiny-networks.ts';
import { nhwcToNchw } from './tiny-networks.ts';

/** The parts of onnxruntime-node and onnxruntime-web these tests use: both expose the same API. */
export interface OrtLike {
  Tensor: new (type: 'float32' | 'int64', data: Float32Array | BigInt64Array, dims: readonly number[]) => unknown;
  InferenceSession: {
    create(
      bytes: Uint8Array,
      options?: object,
    ): Promise<{ run(feeds: Record<string, unknown>): Promise<Record<string, { data: unknown; dims: readonly number[] }>> }>;
  };
}

/** Feeds in the exported graphs' conventions: images NCHW, token ids int64. */
export function ortFeeds(ort: OrtLike, inputs: Record<string, FeedValue>): Record<string, unknown> {
  const feeds: Record<string, unknown> = {};
  for (const [name, v] of Object.entries(inputs)) {
    if (v.data instanceof Int32Array)
      feeds[name] = new ort.Tensor(
        'int64',
        BigInt64Array.from(v.data, (x) => BigInt(x)),
        v.shape,
      );
    else if (v.image) {
      const [n, h, w, c] = v.shape;
      feeds[name] = new ort.Tensor('float32', nhwcToNchw(v.data, v.shape), [n, c, h, w]);
    } else feeds[name] = new ort.Tensor('float32', v.data, v.shape);
  }
  return feeds;
}

export { relativeMaxError } from '../../models/numeric.ts';
