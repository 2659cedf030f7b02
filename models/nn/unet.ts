import type { UnetConfig, UnetLevel } from './configs.ts';
import {
  conv,
  dense,
  downsample,
  groupNorm,
  layerNorm,
  resBlock,
  sinusoidalEmbedding,
  spatialTransformer,
  transformerBlock,
  upsample,
} from './layers.ts';
import type { Ops } from './ops.ts';
import { InvalidArgumentError } from '../errors.ts';

export interface UnetInputs<T> {
  /** Noisy sample [N, H, W, inChannels]. */
  sample: T;
  /** Timestep per item [N] (float). */
  timestep: T;
  /** Text hidden states [N, T, contextDim], required when any level cross-attends. */
  context?: T;
  /** The upscaler's low-resolution image [N, H/2, W/2, conditionChannels]; upsampled and concatenated here. */
  lowRes?: T;
  /** Noise-augmentation level per item [N], when `noiseLevelInput`. */
  noiseLevel?: T;
}

function embedScalar<T>(ops: Ops<T>, name: string, t: T, cfg: UnetConfig, dim: number): T {
  const e = sinusoidalEmbedding(ops, t, cfg.timeEmbedDim);
  return dense(ops, `${name}.linear_2`, ops.silu(dense(ops, `${name}.linear_1`, e, cfg.timeEmbedDim, dim)), dim, dim);
}

/**
 * The text states as every cross-attention reads them: with `contextLayers`, a linear map (which can take out
 * what all tokens share) and transformer blocks trained with the U-Net, then a layer norm. Measured on the shapes
 * CLIP: swapping the two objects' shapes in a caption moves no token's state below cosine 0.99, so the words a
 * two-object scene turns on are a faint signal in the frozen states.
 */
function refineContext<T>(ops: Ops<T>, cfg: UnetConfig, states: T): T {
  if (!cfg.contextLayers) return states;
  const dim = cfg.contextDim;
  let x = dense(ops, 'context.proj_in', states, dim, dim);
  for (let i = 0; i < cfg.contextLayers; i++) x = transformerBlock(ops, `context.layers.${i}`, x, dim, cfg.heads);
  return layerNorm(ops, 'context.norm_out', x, dim);
}

/** Mean over tokens (padding included: the encoder's padding states carry the caption too), then an MLP to [N, dim]. */
function embedPooledContext<T>(ops: Ops<T>, states: T, contextDim: number, dim: number): T {
  const [, tokens] = ops.shape(states);
  const pooled = ops.scale(ops.sum(states, 1), 1 / tokens);
  return dense(ops, 'context_embedding.linear_2', ops.silu(dense(ops, 'context_embedding.linear_1', pooled, contextDim, dim)), dim, dim);
}

/**
 * Text-conditioned U-Net predicting the model output (ε, x₀ or v, per the bundle's prediction type).
 * Also the upscaler: with `conditionChannels` the low-res image is upsampled 2× and concatenated to the sample; with
 * `noiseLevelInput` its augmentation level is embedded like the timestep.
 */
export function unet<T>(ops: Ops<T>, cfg: UnetConfig, inputs: UnetInputs<T>): T {
  const { levels, groups, heads } = cfg;
  const tdim = levels[0].channels * 4;
  let temb = embedScalar(ops, 'time_embedding', inputs.timestep, cfg, tdim);
  if (cfg.noiseLevelInput) {
    if (!inputs.noiseLevel) throw new InvalidArgumentError('inputs.noiseLevel', 'this U-Net embeds a noise level; pass one per item');
    temb = ops.add(temb, embedScalar(ops, 'noise_level_embedding', inputs.noiseLevel, cfg, tdim));
  }
  const ctx = inputs.context && cfg.contextDim > 0 ? { states: refineContext(ops, cfg, inputs.context), dim: cfg.contextDim } : undefined;
  const needsText = () => new InvalidArgumentError('inputs.context', 'this U-Net reads the text; pass the text hidden states');
  if (cfg.pooledContext) {
    if (!ctx) throw needsText();
    temb = ops.add(temb, embedPooledContext(ops, ctx.states, ctx.dim, tdim));
  }
  const time = { vec: temb, dim: tdim };
  const attend = (name: string, h: T, ch: number, kind: UnetLevel['attention']) => {
    if (kind === 'none') return h;
    if (kind === 'self+cross' && !ctx) throw needsText();
    return spatialTransformer(ops, name, h, ch, groups, heads, kind === 'self+cross' ? ctx : undefined, cfg.positionEmbeddings);
  };

  let x = inputs.sample;
  if (cfg.conditionChannels > 0) {
    if (!inputs.lowRes) throw new InvalidArgumentError('inputs.lowRes', 'this U-Net is an upscaler; pass the low-resolution image');
    x = ops.concat([x, ops.upsample2x(inputs.lowRes)], 3);
  }
  let ch = levels[0].channels;
  let h = conv(ops, 'conv_in', x, cfg.inChannels + cfg.conditionChannels, ch, 3);
  const skips: { t: T; ch: number }[] = [{ t: h, ch }];
  levels.forEach((level, i) => {
    for (let r = 0; r < level.resBlocks; r++) {
      h = resBlock(ops, `down.${i}.res.${r}`, h, ch, level.channels, groups, time);
      ch = level.channels;
      h = attend(`down.${i}.attn.${r}`, h, ch, level.attention);
      skips.push({ t: h, ch });
    }
    if (i < levels.length - 1) {
      h = downsample(ops, `down.${i}.downsample`, h, ch);
      skips.push({ t: h, ch });
    }
  });

  h = resBlock(ops, 'mid.res.0', h, ch, ch, groups, time);
  h = attend('mid.attn', h, ch, cfg.midAttention);
  h = resBlock(ops, 'mid.res.1', h, ch, ch, groups, time);

  for (let i = levels.length - 1; i >= 0; i--) {
    const level = levels[i];
    for (let r = 0; r <= level.resBlocks; r++) {
      const skip = skips.pop()!;
      h = resBlock(ops, `up.${i}.res.${r}`, ops.concat([h, skip.t], 3), ch + skip.ch, level.channels, groups, time);
      ch = level.channels;
      h = attend(`up.${i}.attn.${r}`, h, ch, level.attention);
    }
    if (i > 0) h = upsample(ops, `up.${i}.upsample`, h, ch);
  }
  h = ops.silu(groupNorm(ops, 'norm_out', h, ch, groups));
  return conv(ops, 'conv_out', h, ch, cfg.outChannels, 3, { zeroInit: true });
}
