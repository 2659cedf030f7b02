import type { ImageEncoderConfig } from './configs.ts';
import { conv, dense, downsample, groupNorm, resBlock } from './layers.ts';
import type { Ops } from './ops.ts';

/**
 * CLIP image tower: a small residual CNN, global average pool (or, with `positionalPool`, the flattened map),
 * linear projection to the shared space.
 */
export function imageEncoder<T>(ops: Ops<T>, cfg: ImageEncoderConfig, image: T): T {
  const { channels, groups } = cfg;
  let h = conv(ops, 'conv_in', image, cfg.inChannels, channels[0], 3);
  let ch = channels[0];
  channels.forEach((next, i) => {
    h = resBlock(ops, `blocks.${i}`, h, ch, next, groups);
    h = downsample(ops, `down.${i}`, h, next);
    ch = next;
  });
  h = ops.silu(groupNorm(ops, 'norm_out', h, ch, groups));
  if (!cfg.positionalPool) return dense(ops, 'projection', ops.globalAvgPool(h), ch, cfg.projectionDim, { bias: false });
  const side = cfg.imageSize / 2 ** channels.length;
  const flat = ops.reshape(ops.imageToTokens(h), [side * side * ch]);
  return dense(ops, 'projection', flat, side * side * ch, cfg.projectionDim, { bias: false });
}
