import { InvalidArgumentError } from '../errors.ts';
import type { ImageEncoderConfig, TextEncoderConfig, UnetConfig, VaeConfig } from '../nn/configs.ts';
import { vaeDownFactor } from '../nn/configs.ts';
import { imageEncoder } from '../nn/image-encoder.ts';
import { textEncoder } from '../nn/text-encoder.ts';
import { unet } from '../nn/unet.ts';
import { vaeDecoder, vaeEncoder } from '../nn/vae.ts';
import type { WeightMap } from '../nn/weights.ts';
import { OnnxGraph } from './graph.ts';
import { onnxOps, type OnnxOps, type OnnxOpsOptions } from './ops.ts';
import { encodeModel } from './writer.ts';
import { GRAPHS } from '../bundle/graphs.ts';

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

/** input_ids int64 [B, T] → last_hidden_state [B, T, D], text_embeds [B, P]. */
export function exportTextEncoder(cfg: TextEncoderConfig, weights: WeightMap, options: OnnxOpsOptions = {}): Uint8Array {
  return build('text_encoder', weights, options, (ops) => {
    const g = GRAPHS.textEncoder;
    const out = textEncoder(ops, cfg, ops.tensorInput(g.inputs.ids, [cfg.maxLength], 'int64'));
    ops.output(g.outputs.hidden, out.hidden);
    ops.output(g.outputs.pooled, out.pooled);
  });
}

/** pixel_values [B, C, H, W] → image_embeds [B, P]. */
export function exportImageEncoder(cfg: ImageEncoderConfig, weights: WeightMap, options: OnnxOpsOptions = {}): Uint8Array {
  return build('image_encoder', weights, options, (ops) => {
    const g = GRAPHS.imageEncoder;
    ops.output(g.outputs.embeds, imageEncoder(ops, cfg, ops.imageInput(g.inputs.pixels, cfg.imageSize, cfg.imageSize, cfg.inChannels)));
  });
}

/** sample [B, C, H, W] → latent_mean, latent_logvar [B, L, H/f, W/f]. */
export function exportVaeEncoder(cfg: VaeConfig, imageSize: number, weights: WeightMap, options: OnnxOpsOptions = {}): Uint8Array {
  return build('vae_encoder', weights, options, (ops) => {
    const g = GRAPHS.vaeEncoder;
    const out = vaeEncoder(ops, cfg, ops.imageInput(g.inputs.image, imageSize, imageSize, cfg.inChannels));
    ops.output(g.outputs.mean, out.mean);
    ops.output(g.outputs.logvar, out.logvar);
  });
}

/** latent_sample [B, L, h, w] → sample [B, C, h·f, w·f]. */
export function exportVaeDecoder(cfg: VaeConfig, imageSize: number, weights: WeightMap, options: OnnxOpsOptions = {}): Uint8Array {
  const size = imageSize / vaeDownFactor(cfg);
  return build('vae_decoder', weights, options, (ops) => {
    const g = GRAPHS.vaeDecoder;
    ops.output(g.outputs.image, vaeDecoder(ops, cfg, ops.imageInput(g.inputs.latents, size, size, cfg.latentChannels)));
  });
}

/**
 * sample [B, C, H, W], timestep [B], and per config encoder_hidden_states [B, T, D] (text),
 * low_res [B, C', H/2, W/2] (upscaler) and noise_level [B] → out_sample.
 */
export function exportUnet(
  cfg: UnetConfig,
  sampleSize: number,
  contextLength: number,
  weights: WeightMap,
  options: OnnxOpsOptions = {},
): Uint8Array {
  const upscaler = cfg.conditionChannels > 0;
  return build(upscaler ? 'upscaler' : 'unet', weights, options, (ops) => {
    const [u, up] = [GRAPHS.unet.inputs, GRAPHS.upscaler.inputs];
    const sample = ops.imageInput(u.sample, sampleSize, sampleSize, cfg.inChannels);
    const timestep = ops.tensorInput(u.timestep, [], 'float32');
    const context = cfg.contextDim > 0 ? ops.tensorInput(u.context, [contextLength, cfg.contextDim], 'float32') : undefined;
    const lowRes = upscaler ? ops.imageInput(up.lowRes, sampleSize / 2, sampleSize / 2, cfg.conditionChannels) : undefined;
    const noiseLevel = cfg.noiseLevelInput ? ops.tensorInput(up.noiseLevel, [], 'float32') : undefined;
    ops.output((upscaler ? GRAPHS.upscaler : GRAPHS.unet).outputs.out, unet(ops, cfg, { sample, timestep, context, lowRes, noiseLevel }));
  });
}
