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

/**
 * Inference graphs, one per network, with diffusers-style input and output names. Images are NCHW and
 * every graph has a dynamic batch axis.
 */
function build(name: string, weights: WeightMap, options: OnnxOpsOptions, body: (ops: OnnxOps) => void): Uint8Array {
  const graph = new OnnxGraph(name);
  const ops = onnxOps(graph, weights, options);
  body(ops);
  const unused = ops.unusedWeights();
  if (unused.length > 0) throw new InvalidArgumentError('weights', `${name}: ${unused.length} weights not used by the network, e.g. '${unused[0]}'`);
  return encodeModel(graph, { network: name, weights: options.fp16Weights ? 'float16' : 'float32' });
}

/** input_ids int64 [B, T] → last_hidden_state [B, T, D], text_embeds [B, P]. */
export function exportTextEncoder(cfg: TextEncoderConfig, weights: WeightMap, options: OnnxOpsOptions = {}): Uint8Array {
  return build('text_encoder', weights, options, (ops) => {
    const out = textEncoder(ops, cfg, ops.tensorInput('input_ids', [cfg.maxLength], 'int64'));
    ops.output('last_hidden_state', out.hidden);
    ops.output('text_embeds', out.pooled);
  });
}

/** pixel_values [B, C, H, W] → image_embeds [B, P]. */
export function exportImageEncoder(cfg: ImageEncoderConfig, weights: WeightMap, options: OnnxOpsOptions = {}): Uint8Array {
  return build('image_encoder', weights, options, (ops) => {
    ops.output('image_embeds', imageEncoder(ops, cfg, ops.imageInput('pixel_values', cfg.imageSize, cfg.imageSize, cfg.inChannels)));
  });
}

/** sample [B, C, H, W] → latent_mean, latent_logvar [B, L, H/f, W/f]. */
export function exportVaeEncoder(cfg: VaeConfig, imageSize: number, weights: WeightMap, options: OnnxOpsOptions = {}): Uint8Array {
  return build('vae_encoder', weights, options, (ops) => {
    const out = vaeEncoder(ops, cfg, ops.imageInput('sample', imageSize, imageSize, cfg.inChannels));
    ops.output('latent_mean', out.mean);
    ops.output('latent_logvar', out.logvar);
  });
}

/** latent_sample [B, L, h, w] → sample [B, C, h·f, w·f]. */
export function exportVaeDecoder(cfg: VaeConfig, imageSize: number, weights: WeightMap, options: OnnxOpsOptions = {}): Uint8Array {
  const size = imageSize / vaeDownFactor(cfg);
  return build('vae_decoder', weights, options, (ops) => {
    ops.output('sample', vaeDecoder(ops, cfg, ops.imageInput('latent_sample', size, size, cfg.latentChannels)));
  });
}

/**
 * sample [B, C, H, W], timestep [B], and per config encoder_hidden_states [B, T, D] (text),
 * low_res [B, C', H/2, W/2] (upscaler) and noise_level [B] → out_sample.
 */
export function exportUnet(cfg: UnetConfig, sampleSize: number, contextLength: number, weights: WeightMap, options: OnnxOpsOptions = {}): Uint8Array {
  return build(cfg.conditionChannels > 0 ? 'upscaler' : 'unet', weights, options, (ops) => {
    const sample = ops.imageInput('sample', sampleSize, sampleSize, cfg.inChannels);
    const timestep = ops.tensorInput('timestep', [], 'float32');
    const context = cfg.contextDim > 0 ? ops.tensorInput('encoder_hidden_states', [contextLength, cfg.contextDim], 'float32') : undefined;
    const lowRes = cfg.conditionChannels > 0 ? ops.imageInput('low_res', sampleSize / 2, sampleSize / 2, cfg.conditionChannels) : undefined;
    const noiseLevel = cfg.noiseLevelInput ? ops.tensorInput('noise_level', [], 'float32') : undefined;
    ops.output('out_sample', unet(ops, cfg, { sample, timestep, context, lowRes, noiseLevel }));
  });
}
