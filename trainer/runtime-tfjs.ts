import * as tf from '@tensorflow/tfjs-core';
import type { UnetConfig } from '../models/nn/configs.ts';
import { unet } from '../models/nn/unet.ts';
import type { DiffusionRuntime, Tensor } from '../models/pipeline/generate.ts';
import { nchwToNhwc, nhwcToNchw } from '../models/pipeline/layout.ts';
import { tfjsOps } from './tfjs/ops.ts';
import type { ParamStore } from './tfjs/params.ts';
import type { VaeModel } from './stages/vae.ts';

const toNhwc = (t: Tensor) => tf.tensor4d(nchwToNhwc(t.data, t.dims), [t.dims[0], t.dims[2], t.dims[3], t.dims[1]]);
/** Run a network in a tidy scope and hand its NHWC result back as an NCHW pipeline tensor. */
function run(f: () => tf.Tensor): Tensor {
  const x = tf.tidy(f);
  const dims = [x.shape[0], x.shape[3]!, x.shape[1]!, x.shape[2]!];
  const out = { data: nhwcToNchw(x.dataSync() as Float32Array, x.shape), dims };
  x.dispose();
  return out;
}

/** The generation pipeline's runtime on the networks being trained, for sample grids during training. */
export function tfjsRuntime(cfg: UnetConfig, unetStore: ParamStore, vae: VaeModel, upscaler?: { cfg: UnetConfig; store: ParamStore }): DiffusionRuntime {
  return {
    unet: async (sample, timestep, context) =>
      run(() => unet(tfjsOps(unetStore), cfg, { sample: toNhwc(sample), timestep: tf.tensor1d(timestep), context: tf.tensor(context.data, context.dims) })),
    decode: async (latents) => run(() => vae.decode(toNhwc(latents))),
    encode: async (image) => run(() => vae.encode(toNhwc(image)).mean),
    upscale: upscaler
      ? async (sample, timestep, lowRes, noiseLevel) =>
          run(() => unet(tfjsOps(upscaler.store), upscaler.cfg, { sample: toNhwc(sample), timestep: tf.tensor1d(timestep), lowRes: toNhwc(lowRes), noiseLevel: tf.tensor1d(noiseLevel) }))
      : undefined,
  };
}
