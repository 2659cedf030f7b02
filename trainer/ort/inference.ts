import * as ort from 'onnxruntime-node';
import { GRAPHS } from '../../models/bundle/graphs.ts';
import { availableParallelism } from 'node:os';
import { vaeDownFactor, type TextEncoderConfig, type VaeConfig } from '../../models/nn/configs.ts';
import type { WeightMap } from '../../models/nn/weights.ts';
import { exportTextEncoder, exportVaeDecoder, exportVaeEncoder } from '../../models/onnx/export.ts';
import { nchwToNhwc, nhwcToNchw } from '../../models/pipeline/layout.ts';

/**
 * An onnxruntime-node session on an in-memory graph: how the trainer runs networks it is training (sample
 * grids, statistics) through the same exported graphs the bundle will hold.
 */
export function inferenceSession(bytes: Uint8Array): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(bytes, { intraOpNumThreads: availableParallelism(), graphOptimizationLevel: 'all' });
}

/** Token ids as the exported text encoder takes them. */
export function idsTensor(ids: ArrayLike<number>, batch: number, length: number): ort.Tensor {
  return new ort.Tensor(
    'int64',
    BigInt64Array.from(Array.from(ids), (x) => BigInt(x)),
    [batch, length],
  );
}

/** A VAE's two exported graphs on onnxruntime-node, taking and giving NHWC data like the trainer's datasets. */
export interface VaeSessions {
  /** Posterior means [n, h, w, c] of images [n, H, W, 3]. */
  encode(images: Float32Array, n: number): Promise<Float32Array>;
  /** Images [n, H, W, 3] of latents [n, h, w, c]. */
  decode(latents: Float32Array, n: number): Promise<Float32Array>;
  release(): Promise<void>;
}

export async function vaeSessions(cfg: VaeConfig, imageSize: number, encoder: WeightMap, decoder: WeightMap): Promise<VaeSessions> {
  const [enc, dec] = await Promise.all([
    inferenceSession(exportVaeEncoder(cfg, imageSize, encoder)),
    inferenceSession(exportVaeDecoder(cfg, imageSize, decoder)),
  ]);
  const l = imageSize / vaeDownFactor(cfg);
  const c = cfg.latentChannels;
  const run = async (
    s: ort.InferenceSession,
    input: string,
    output: string,
    data: Float32Array,
    n: number,
    size: number,
    channels: number,
  ) => {
    const out = await s.run({ [input]: new ort.Tensor('float32', nhwcToNchw(data, [n, size, size, channels]), [n, channels, size, size]) });
    const t = out[output];
    return nchwToNhwc(t.data as Float32Array, t.dims);
  };
  return {
    encode: (images, n) => run(enc, GRAPHS.vaeEncoder.inputs.image, GRAPHS.vaeEncoder.outputs.mean, images, n, imageSize, cfg.inChannels),
    decode: (latents, n) => run(dec, GRAPHS.vaeDecoder.inputs.latents, GRAPHS.vaeDecoder.outputs.image, latents, n, l, c),
    release: async () => {
      await enc.release();
      await dec.release();
    },
  };
}

/** Per-token text states [n, T, D] of token ids through a text encoder's exported graph. */
export async function textStates(cfg: TextEncoderConfig, weights: WeightMap, ids: ArrayLike<number>, n: number): Promise<Float32Array> {
  const session = await inferenceSession(exportTextEncoder(cfg, weights));
  const out = await session.run({ [GRAPHS.textEncoder.inputs.ids]: idsTensor(ids, n, cfg.maxLength) });
  await session.release();
  return out[GRAPHS.textEncoder.outputs.hidden].data as Float32Array;
}
