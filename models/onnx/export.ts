import { InvalidArgumentError } from '../errors.ts';
import type { ImageEncoderConfig, TextEncoderConfig, UnetConfig, VaeConfig } from '../nn/configs.ts';
import { vaeDownFactor } from '../nn/configs.ts';
import { imageEncoder } from '../nn/image-encoder.ts';
import { textEncoder } from '../nn/text-encoder.ts';
import { unet } from '../nn/unet.ts';
import { vaeDecoder, vaeEncoder } from '../nn/vae.ts';
import type { WeightMap } from '../nn/weights.ts';
import { OnnxGraph } from './graph.ts';
import { onnxOps, type OnnxOps, type OnnxOpsOptions, type Sym } from './ops.ts';
import { encodeModel } from './writer.ts';
import { GRAPHS, graphInputs, type GraphSizes, type GraphSpec } from '../bundle/graphs.ts';

/**
 * Inference graphs, one per network, named as GRAPHS declares (diffusers' names). Images are NCHW and
 * every graph has a dynamic batch axis.
 */
function build(name: string, weights: WeightMap, options: OnnxOpsOptions, body: (ops: OnnxOps) => void): Uint8Array {
  const graph = new OnnxGraph(name);
  const ops = onnxOps(graph, weights, options);
  body(ops);
  const unused = ops.unusedWeights();
  if (unused.length > 0)
    throw new InvalidArgumentError('weights', `${name}: ${unused.length} weights not used by the network, e.g. '${unused[0]}'`);
  return encodeModel(graph, { network: name, weights: options.fp16Weights ? 'float16' : 'float32' });
}

/** A graph's inputs as GRAPHS declares them, at a bundle's sizes, keyed by the network's argument names. */
function declareInputs<G extends GraphSpec>(ops: OnnxOps, graph: G, sizes: GraphSizes): Record<keyof G['inputs'], Sym> {
  return Object.fromEntries(
    graphInputs(graph, sizes).map((i) => [
      i.key,
      i.image ? ops.imageInput(i.name, i.tail[1], i.tail[2], i.tail[0]) : ops.tensorInput(i.name, i.tail, i.dtype),
    ]),
  ) as Record<keyof G['inputs'], Sym>;
}

/** Each network's graph and the sizes its inputs take (the exporter declares them; the trainer's export check feeds them). */
export const graphOf = {
  textEncoder: (cfg: TextEncoderConfig) => ({ graph: GRAPHS.textEncoder, sizes: { textLength: cfg.maxLength } }),
  imageEncoder: (cfg: ImageEncoderConfig) => ({
    graph: GRAPHS.imageEncoder,
    sizes: { imageChannels: cfg.inChannels, imageSize: cfg.imageSize },
  }),
  vaeEncoder: (cfg: VaeConfig, imageSize: number) => ({ graph: GRAPHS.vaeEncoder, sizes: { imageChannels: cfg.inChannels, imageSize } }),
  vaeDecoder: (cfg: VaeConfig, imageSize: number) => ({
    graph: GRAPHS.vaeDecoder,
    sizes: { latentChannels: cfg.latentChannels, latentSize: imageSize / vaeDownFactor(cfg) },
  }),
  /** The text-conditioned U-Net, or the upscaler when the config takes a low-resolution condition. */
  unet: (cfg: UnetConfig, sampleSize: number, contextLength: number) => ({
    graph: cfg.conditionChannels > 0 ? GRAPHS.upscaler : GRAPHS.unet,
    sizes: {
      channels: cfg.inChannels,
      size: sampleSize,
      halfSize: sampleSize / 2,
      conditionChannels: cfg.conditionChannels,
      textLength: contextLength,
      textWidth: cfg.contextDim,
    },
  }),
};

/** input_ids int64 [B, T] → last_hidden_state [B, T, D], text_embeds [B, P]. */
export function exportTextEncoder(cfg: TextEncoderConfig, weights: WeightMap, options: OnnxOpsOptions = {}): Uint8Array {
  return build('text_encoder', weights, options, (ops) => {
    const { graph, sizes } = graphOf.textEncoder(cfg);
    const out = textEncoder(ops, cfg, declareInputs(ops, graph, sizes).ids);
    ops.output(graph.outputs.hidden, out.hidden);
    ops.output(graph.outputs.pooled, out.pooled);
  });
}

/** pixel_values [B, C, H, W] → image_embeds [B, P]. */
export function exportImageEncoder(cfg: ImageEncoderConfig, weights: WeightMap, options: OnnxOpsOptions = {}): Uint8Array {
  return build('image_encoder', weights, options, (ops) => {
    const { graph, sizes } = graphOf.imageEncoder(cfg);
    ops.output(graph.outputs.embeds, imageEncoder(ops, cfg, declareInputs(ops, graph, sizes).pixels));
  });
}

/** sample [B, C, H, W] → latent_mean, latent_logvar [B, L, H/f, W/f]. */
export function exportVaeEncoder(cfg: VaeConfig, imageSize: number, weights: WeightMap, options: OnnxOpsOptions = {}): Uint8Array {
  return build('vae_encoder', weights, options, (ops) => {
    const { graph, sizes } = graphOf.vaeEncoder(cfg, imageSize);
    const out = vaeEncoder(ops, cfg, declareInputs(ops, graph, sizes).image);
    ops.output(graph.outputs.mean, out.mean);
    ops.output(graph.outputs.logvar, out.logvar);
  });
}

/** latent_sample [B, L, h, w] → sample [B, C, h·f, w·f]. */
export function exportVaeDecoder(cfg: VaeConfig, imageSize: number, weights: WeightMap, options: OnnxOpsOptions = {}): Uint8Array {
  return build('vae_decoder', weights, options, (ops) => {
    const { graph, sizes } = graphOf.vaeDecoder(cfg, imageSize);
    ops.output(graph.outputs.image, vaeDecoder(ops, cfg, declareInputs(ops, graph, sizes).latents));
  });
}

/**
 * The U-Net's inputs as GRAPHS declares them (text: sample, timestep, encoder_hidden_states; upscaler: sample,
 * timestep, low_res, noise_level) → out_sample.
 */
export function exportUnet(
  cfg: UnetConfig,
  sampleSize: number,
  contextLength: number,
  weights: WeightMap,
  options: OnnxOpsOptions = {},
): Uint8Array {
  const { graph, sizes } = graphOf.unet(cfg, sampleSize, contextLength);
  return build(graph === GRAPHS.upscaler ? 'upscaler' : 'unet', weights, options, (ops) => {
    // The network checks that what its config needs is there (text for cross-attention, the condition for an upscaler).
    ops.output(graph.outputs.out, unet(ops, cfg, declareInputs(ops, graph, sizes)));
  });
}
