import { z } from 'zod';
import { InvalidArgumentError } from '../errors.ts';

const positiveInt = z.number().int().positive();

export const textEncoderConfigSchema = z.object({
  vocabSize: positiveInt,
  maxLength: positiveInt,
  width: positiveInt,
  layers: positiveInt,
  heads: positiveInt,
  padId: z.number().int().nonnegative(),
  /** Width of the pooled CLIP embedding. */
  projectionDim: positiveInt,
  /**
   * Each token attends only to itself and the tokens before it (as CLIP's text tower does), and the embedding
   * is projected from the last real token (<eos>). A token's state then describes the prompt up to it ('a small
   * red circle' at 'circle'), so an object's words stay bound to it in the states the U-Net reads: v9's
   * bidirectional encoder left every token's state at cosine ≥ 0.96 when a caption's two colours swapped.
   */
  causal: z.boolean().optional(),
});
export type TextEncoderConfig = z.infer<typeof textEncoderConfigSchema>;

export const imageEncoderConfigSchema = z.object({
  imageSize: positiveInt,
  inChannels: positiveInt,
  channels: z.array(positiveInt).min(1),
  groups: positiveInt,
  projectionDim: positiveInt,
  /**
   * Project the whole last feature map, flattened, instead of its average over positions: the embedding then
   * sees where things are, so the contrastive loss can teach the text tower which object is above which.
   */
  positionalPool: z.boolean().optional(),
});
export type ImageEncoderConfig = z.infer<typeof imageEncoderConfigSchema>;

export const vaeConfigSchema = z.object({
  inChannels: positiveInt,
  latentChannels: positiveInt,
  /** One entry per resolution; the image is downsampled between entries, so 3 entries = factor 4. */
  channels: z.array(positiveInt).min(1),
  groups: positiveInt,
  /** Self-attention in the middle block. */
  midAttention: z.boolean(),
});
export type VaeConfig = z.infer<typeof vaeConfigSchema>;

export const ATTENTION_KINDS = ['none', 'self', 'self+cross'] as const;

export const unetLevelSchema = z.object({
  channels: positiveInt,
  resBlocks: positiveInt,
  attention: z.enum(ATTENTION_KINDS, {
    errorMap: (_issue, ctx) => ({ message: `unknown layer type '${String(ctx.data)}' (expected ${ATTENTION_KINDS.join(', ')})` }),
  }),
});

export const unetConfigSchema = z.object({
  /** Channels of the noisy sample. */
  inChannels: positiveInt,
  outChannels: positiveInt,
  /** Extra image channels concatenated to the sample (the upsampled low-res image of the upscaler); 0 for none. */
  conditionChannels: z.number().int().nonnegative(),
  levels: z.array(unetLevelSchema).min(1),
  midAttention: z.enum(ATTENTION_KINDS),
  groups: positiveInt,
  heads: positiveInt,
  /** Width of the text hidden states for cross-attention; 0 when no level uses cross-attention. */
  contextDim: z.number().int().nonnegative(),
  /**
   * Transformer layers the U-Net runs over the text states before any level cross-attends (absent: none).
   * The text encoder is frozen and contrastively trained; these layers learn what the U-Net needs from it.
   */
  contextLayers: z.number().int().nonnegative().optional(),
  /**
   * A learned embedding per position added to every spatial transformer's tokens, so attention knows where a
   * pixel is (convolutions see neighbourhoods; zero padding leaks position only weakly) — what a caption that
   * lays out a scene ('above', 'left of') needs. Fixes the latent size the network runs at.
   */
  positionEmbeddings: z.boolean().optional(),
  /**
   * The (refined) text states averaged over tokens, through an MLP, added to the timestep embedding: every
   * ResBlock then sees what the whole caption says about the whole picture (which axis two objects lie on, which
   * goes first), which cross-attention would have to route pixel by pixel.
   */
  pooledContext: z.boolean().optional(),
  /** Sinusoidal timestep embedding width (before the MLP). */
  timeEmbedDim: positiveInt,
  /** Embed a second scalar (the upscaler's noise-augmentation level) like the timestep and add it. */
  noiseLevelInput: z.boolean(),
});
export type UnetConfig = z.infer<typeof unetConfigSchema>;
export type UnetLevel = z.infer<typeof unetLevelSchema>;

function parse<T>(schema: z.ZodType<T>, what: string, value: unknown): T {
  const r = schema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new InvalidArgumentError([what, ...issue.path].join('.').replace(/\.(\d+)/g, '[$1]'), issue.message);
  }
  return r.data;
}

function divisible(argument: string, channels: number, by: number, what: string): void {
  if (channels % by !== 0) throw new InvalidArgumentError(argument, `${channels} channels are not divisible by ${by} ${what}`);
}

export function validateTextEncoderConfig(value: unknown): TextEncoderConfig {
  const c = parse(textEncoderConfigSchema, 'textEncoder', value);
  divisible('textEncoder.width', c.width, c.heads, 'heads');
  if (c.padId >= c.vocabSize) throw new InvalidArgumentError('textEncoder.padId', `${c.padId} is outside the vocabulary of ${c.vocabSize}`);
  return c;
}

export function validateImageEncoderConfig(value: unknown): ImageEncoderConfig {
  const c = parse(imageEncoderConfigSchema, 'imageEncoder', value);
  c.channels.forEach((ch, i) => divisible(`imageEncoder.channels[${i}]`, ch, c.groups, 'groups'));
  if (c.imageSize % 2 ** c.channels.length !== 0) {
    throw new InvalidArgumentError('imageEncoder.imageSize', `${c.imageSize} is not divisible by 2^${c.channels.length}`);
  }
  return c;
}

export function validateVaeConfig(value: unknown): VaeConfig {
  const c = parse(vaeConfigSchema, 'vae', value);
  c.channels.forEach((ch, i) => divisible(`vae.channels[${i}]`, ch, c.groups, 'groups'));
  return c;
}

export function validateUnetConfig(value: unknown): UnetConfig {
  const c = parse(unetConfigSchema, 'unet', value);
  c.levels.forEach((l, i) => {
    divisible(`unet.levels[${i}].channels`, l.channels, c.groups, 'groups');
    if (l.attention !== 'none') divisible(`unet.levels[${i}].channels`, l.channels, c.heads, 'heads');
    if (l.attention === 'self+cross' && c.contextDim === 0) {
      throw new InvalidArgumentError(`unet.levels[${i}].attention`, 'cross-attention needs contextDim > 0');
    }
  });
  if (c.contextLayers && c.contextDim === 0) throw new InvalidArgumentError('unet.contextLayers', 'context layers need contextDim > 0');
  if (c.pooledContext && c.contextDim === 0) throw new InvalidArgumentError('unet.pooledContext', 'a pooled context needs contextDim > 0');
  if (c.contextLayers) divisible('unet.contextDim', c.contextDim, c.heads, 'heads');
  if (c.timeEmbedDim % 2 !== 0) throw new InvalidArgumentError('unet.timeEmbedDim', `must be even, got ${c.timeEmbedDim}`);
  return c;
}

/** Spatial downsampling factor of a VAE: one halving between consecutive resolutions. */
export function vaeDownFactor(c: VaeConfig): number {
  return 2 ** (c.channels.length - 1);
}
