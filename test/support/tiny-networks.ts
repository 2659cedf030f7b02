import * as tf from '@tensorflow/tfjs-core';
import { createRng } from '../../models/diffusion/rng.ts';
import {
  type ImageEncoderConfig,
  type TextEncoderConfig,
  validateImageEncoderConfig,
  validateTextEncoderConfig,
  validateUnetConfig,
  validateVaeConfig,
} from '../../models/nn/configs.ts';
import { imageEncoder } from '../../models/nn/image-encoder.ts';
import { textEncoder } from '../../models/nn/text-encoder.ts';
import { unet } from '../../models/nn/unet.ts';
import { vaeDecoder, vaeEncoder } from '../../models/nn/vae.ts';
import type { Ops } from '../../models/nn/ops.ts';
import type { WeightMap } from '../../models/nn/weights.ts';
import { exportImageEncoder, exportTextEncoder, exportUnet, exportVaeDecoder, exportVaeEncoder } from '../../models/onnx/export.ts';
import type { OnnxOpsOptions } from '../../models/onnx/ops.ts';
import { tfjsOps } from '../../trainer/tfjs/ops.ts';
export { nhwcToNchw } from '../../models/pipeline/layout.ts';
import type { ParamStore } from '../../trainer/tfjs/params.ts';

/** Small configs of every network, for parity and gradient tests. */
export const TINY = {
  text: validateTextEncoderConfig({ vocabSize: 50, maxLength: 8, width: 32, layers: 2, heads: 4, padId: 0, projectionDim: 16 }),
  image: validateImageEncoderConfig({ imageSize: 16, inChannels: 3, channels: [16, 32], groups: 8, projectionDim: 16 }),
  vae: validateVaeConfig({ inChannels: 3, latentChannels: 4, channels: [16, 32, 32], groups: 8, midAttention: true }),
  unet: validateUnetConfig({
    inChannels: 4,
    outChannels: 4,
    conditionChannels: 0,
    levels: [
      { channels: 16, resBlocks: 1, attention: 'none' },
      { channels: 32, resBlocks: 1, attention: 'self+cross' },
    ],
    midAttention: 'self+cross',
    groups: 8,
    heads: 4,
    contextDim: 32,
    contextLayers: 1,
    positionEmbeddings: true,
    pooledContext: true,
    timeEmbedDim: 32,
    noiseLevelInput: false,
  }),
  upscaler: validateUnetConfig({
    inChannels: 3,
    outChannels: 3,
    conditionChannels: 3,
    levels: [
      { channels: 16, resBlocks: 1, attention: 'none' },
      { channels: 32, resBlocks: 1, attention: 'self' },
    ],
    midAttention: 'self',
    groups: 8,
    heads: 2,
    contextDim: 0,
    timeEmbedDim: 16,
    noiseLevelInput: true,
  }),
};

export interface FeedValue {
  /** NHWC (images) or plain layout, as tfjs takes it. */
  data: Float32Array | Int32Array;
  shape: number[];
  image: boolean;
}

/** One network case: tfjs forward from named inputs, the ONNX export, and the names tying them together. */
export interface NetworkCase {
  name: string;
  inputs: Record<string, FeedValue>;
  /** The network on any back end of the ops interface. */
  run<T>(ops: Ops<T>, inputs: Record<string, T>): Record<string, T>;
  forward(store: ParamStore, inputs: Record<string, tf.Tensor>): Record<string, tf.Tensor>;
  exportOnnx(weights: WeightMap, options?: OnnxOpsOptions): Uint8Array;
}

function normal(seed: number, shape: number[], std = 1): FeedValue {
  const n = shape.reduce((a, b) => a * b, 1);
  const data = createRng(seed)
    .fill(n)
    .map((v) => v * std);
  return { data, shape, image: shape.length === 4 };
}

export function networkCases(batch = 2): NetworkCase[] {
  const { text, image, vae, unet: u, upscaler } = TINY;
  const ids = new Int32Array(batch * text.maxLength);
  for (let b = 0; b < batch; b++)
    for (let t = 0; t < text.maxLength; t++)
      ids[b * text.maxLength + t] = t === 0 ? 1 : t < 5 + b ? 2 + ((b * 7 + t * 3) % 47) : text.padId;
  const latent = 16 / 4;
  // Variants of one network differ in a config field only: one case each, from the config.
  const textCase = (name: string, cfg: TextEncoderConfig): Omit<NetworkCase, 'forward'> => ({
    name,
    inputs: { input_ids: { data: ids, shape: [batch, text.maxLength], image: false } },
    run: (ops, x) => {
      const out = textEncoder(ops, cfg, x.input_ids);
      return { last_hidden_state: out.hidden, text_embeds: out.pooled };
    },
    exportOnnx: (w, o) => exportTextEncoder(cfg, w, o),
  });
  const imageCase = (name: string, cfg: ImageEncoderConfig, seed: number): Omit<NetworkCase, 'forward'> => ({
    name,
    inputs: { pixel_values: normal(seed, [batch, 16, 16, 3]) },
    run: (ops, x) => ({ image_embeds: imageEncoder(ops, cfg, x.pixel_values) }),
    exportOnnx: (w, o) => exportImageEncoder(cfg, w, o),
  });
  const cases: Omit<NetworkCase, 'forward'>[] = [
    textCase('text_encoder', text),
    textCase('text_encoder_causal', { ...text, causal: true }),
    imageCase('image_encoder', image, 1),
    imageCase('image_encoder_positional', { ...image, positionalPool: true }, 8),
    {
      name: 'vae_encoder',
      inputs: { sample: normal(2, [batch, 16, 16, 3]) },
      run: (ops, x) => {
        const out = vaeEncoder(ops, vae, x.sample);
        return { latent_mean: out.mean, latent_logvar: out.logvar };
      },
      exportOnnx: (w, o) => exportVaeEncoder(vae, 16, w, o),
    },
    {
      name: 'vae_decoder',
      inputs: { latent_sample: normal(3, [batch, latent, latent, 4]) },
      run: (ops, x) => ({ sample: vaeDecoder(ops, vae, x.latent_sample) }),
      exportOnnx: (w, o) => exportVaeDecoder(vae, 16, w, o),
    },
    {
      name: 'unet',
      inputs: {
        sample: normal(4, [batch, 8, 8, 4]),
        timestep: { data: Float32Array.from({ length: batch }, (_, i) => 999 - 400 * i), shape: [batch], image: false },
        encoder_hidden_states: normal(5, [batch, 8, 32]),
      },
      run: (ops, x) => ({ out_sample: unet(ops, u, { sample: x.sample, timestep: x.timestep, context: x.encoder_hidden_states }) }),
      exportOnnx: (w, o) => exportUnet(u, 8, 8, w, o),
    },
    {
      name: 'upscaler',
      inputs: {
        sample: normal(6, [batch, 16, 16, 3]),
        timestep: { data: Float32Array.from({ length: batch }, (_, i) => 500 + 300 * i), shape: [batch], image: false },
        low_res: normal(7, [batch, 8, 8, 3]),
        noise_level: { data: Float32Array.from({ length: batch }, (_, i) => 20 * (i + 1)), shape: [batch], image: false },
      },
      run: (ops, x) => ({
        out_sample: unet(ops, upscaler, { sample: x.sample, timestep: x.timestep, lowRes: x.low_res, noiseLevel: x.noise_level }),
      }),
      exportOnnx: (w, o) => exportUnet(upscaler, 16, 0, w, o),
    },
  ];
  return cases.map((c) => ({ ...c, forward: (store, x) => c.run(tfjsOps(store), x) }));
}

export function toTensors(inputs: Record<string, FeedValue>): Record<string, tf.Tensor> {
  return Object.fromEntries(
    Object.entries(inputs).map(([k, v]) => [
      k,
      v.data instanceof Int32Array ? tf.tensor(v.data, v.shape, 'int32') : tf.tensor(v.data, v.shape),
    ]),
  );
}

/**
 * Replace every parameter with random values of a size that keeps activations O(1): the networks' zero
 * initialisations (output convs, gates) would otherwise hide whole branches from a parity test.
 */
export function randomizeWeights(store: ParamStore, seed: number): WeightMap {
  const rng = createRng(seed);
  const out: WeightMap = new Map();
  for (const [name, v] of store.variables) {
    const shape = [...v.shape];
    const n = shape.reduce((a, b) => a * b, 1);
    let std: number;
    let mean = 0;
    if (name.includes('embedding.weight')) std = 0.5;
    else if (shape.length === 1) {
      const isGain = /norm.*\.weight$/.test(name);
      mean = isGain ? 1 : 0;
      std = 0.1;
    } else std = 1 / Math.sqrt(shape.slice(0, -1).reduce((a, b) => a * b, 1));
    const data = rng.fill(n).map((x) => mean + std * x);
    out.set(name, { shape, data });
  }
  store.load(out);
  return out;
}
