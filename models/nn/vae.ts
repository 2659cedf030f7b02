import type { VaeConfig } from './configs.ts';
import { attention, conv, downsample, groupNorm, resBlock, upsample } from './layers.ts';
import type { Ops } from './ops.ts';

function attentionBlock<T>(ops: Ops<T>, name: string, x: T, channels: number, groups: number): T {
  const [, h, w] = ops.shape(x);
  const t = ops.imageToTokens(groupNorm(ops, `${name}.norm`, x, channels, groups));
  return ops.add(x, ops.tokensToImage(attention(ops, name, t, t, channels, channels, 1), h, w));
}

function middle<T>(ops: Ops<T>, x: T, cfg: VaeConfig, ch: number): T {
  let h = resBlock(ops, 'mid.block_1', x, ch, ch, cfg.groups);
  if (cfg.midAttention) h = attentionBlock(ops, 'mid.attn_1', h, ch, cfg.groups);
  return resBlock(ops, 'mid.block_2', h, ch, ch, cfg.groups);
}

/** Image [N, H, W, C] → posterior mean and log-variance of the latents [N, H/f, W/f, latentChannels]. */
export function vaeEncoder<T>(ops: Ops<T>, cfg: VaeConfig, image: T): { mean: T; logvar: T } {
  const { channels, groups } = cfg;
  let h = conv(ops, 'conv_in', image, cfg.inChannels, channels[0], 3);
  let ch = channels[0];
  channels.forEach((next, i) => {
    h = resBlock(ops, `down.${i}.block`, h, ch, next, groups);
    ch = next;
    if (i < channels.length - 1) h = downsample(ops, `down.${i}.downsample`, h, ch);
  });
  h = ops.silu(groupNorm(ops, 'norm_out', middle(ops, h, cfg, ch), ch, groups));
  return {
    mean: conv(ops, 'conv_mean', h, ch, cfg.latentChannels, 3),
    logvar: conv(ops, 'conv_logvar', h, ch, cfg.latentChannels, 3),
  };
}

/** Latents [N, h, w, latentChannels] → image [N, h·f, w·f, C]. */
export function vaeDecoder<T>(ops: Ops<T>, cfg: VaeConfig, latents: T): T {
  const { channels, groups } = cfg;
  let ch = channels[channels.length - 1];
  let h = middle(ops, conv(ops, 'conv_in', latents, cfg.latentChannels, ch, 3), cfg, ch);
  for (let i = channels.length - 1; i >= 0; i--) {
    h = resBlock(ops, `up.${i}.block`, h, ch, channels[i], groups);
    ch = channels[i];
    if (i > 0) h = upsample(ops, `up.${i}.upsample`, h, ch);
  }
  return conv(ops, 'conv_out', ops.silu(groupNorm(ops, 'norm_out', h, ch, groups)), ch, cfg.inChannels, 3);
}
