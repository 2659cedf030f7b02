import { z } from 'zod';
import { InvalidArgumentError } from '../errors.ts';
import { GRAPHS } from './graphs.ts';
import { BETA_SCHEDULES } from '../diffusion/schedule.ts';
import { PREDICTION_TYPES } from '../diffusion/prediction.ts';
import { SAMPLER_NAMES } from '../diffusion/samplers/types.ts';
import { MIN_ALPHA_BAR } from '../diffusion/samplers/common.ts';
import { imageEncoderConfigSchema, textEncoderConfigSchema, unetConfigSchema, vaeConfigSchema } from '../nn/configs.ts';

/** Relative file paths inside a bundle: no traversal, no absolute paths, no odd characters. */
export const bundlePathSchema = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9_][A-Za-z0-9_.-]*(\/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$/, 'must be a relative path of [A-Za-z0-9_.-] segments')
  .refine((p) => !p.split('/').some((s) => s === '..' || s === '.'), 'must not contain . or .. segments');

export const modelNameSchema = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'must be lower-case letters, digits and dashes');
export const versionSchema = z.string().regex(/^[a-z0-9][a-z0-9.-]{0,62}$/, 'must be lower-case letters, digits, dots and dashes');

/** A noise schedule as the base model and the upscaler both declare it. */
const scheduleSchema = z.object({
  kind: z.enum(BETA_SCHEDULES),
  trainSteps: z.number().int().min(2),
  betaStart: z.number(),
  betaEnd: z.number(),
  zeroTerminalSnr: z.boolean(),
});

const fileSchema = z.object({
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  size: z.number().int().nonnegative(),
});

export const BUNDLE_FILES = {
  textEncoder: GRAPHS.textEncoder.file,
  unet: GRAPHS.unet.file,
  vaeDecoder: GRAPHS.vaeDecoder.file,
  vaeEncoder: GRAPHS.vaeEncoder.file,
  upscaler: GRAPHS.upscaler.file,
  imageEncoder: GRAPHS.imageEncoder.file,
  tokenizer: 'tokenizer/tokenizer.json',
} as const;

/**
 * What a browser downloads to generate: the U-Net and VAE decoder on the first visit, the VAE encoder
 * (img2img) and upscaler when first used. The text and image encoders stay on the edge (and in evaluation).
 */
export const CLIENT_FILES_AT_LOAD = [BUNDLE_FILES.unet, BUNDLE_FILES.vaeDecoder] as const;
export const CLIENT_FILES = [...CLIENT_FILES_AT_LOAD, BUNDLE_FILES.vaeEncoder, BUNDLE_FILES.upscaler] as const;

/**
 * How the networks are meant to be sampled, stated as data so a client that reads only the manifest (and
 * docs/bundle-format.md) samples them right. Each field has one value today; the pipeline refuses others.
 */
export const DIFFUSION_CONVENTIONS = {
  /** Sampler timesteps: trailing spacing, t_k = round(T − k·T/N) − 1, always starting at T − 1. */
  timestepSpacing: 'trailing',
  /** The U-Net's `timestep` input is the integer index t ∈ [0, T−1] as float32, unscaled. */
  timestepInput: 'index',
  /** The unconditional states are the text encoder's output for the empty prompt (or the negative prompt). */
  unconditional: 'encoded-empty-prompt',
  /** Guidance: one U-Net batch [uncond, cond]; output = u + g·(c − u). */
  guidance: 'uncond-cond-batch',
  /** ᾱ is clamped from below wherever it is divided by (the zero-terminal-SNR step has ᾱ = 0). */
  alphaBarFloor: MIN_ALPHA_BAR,
  /** Multistep samplers take a first-order first step; the last step returns the predicted clean sample. */
  firstStep: 'first-order',
  finalStep: 'denoised',
  /** Initial noise from the seed: xoshiro128** seeded by splitmix32, normals by Marsaglia's polar method. */
  noise: 'xoshiro128ss-polar',
} as const;

export const UPSCALE_CONVENTIONS = {
  /** The network's output is a residual added to the bicubic 2× upsampling of the low-resolution image. */
  base: 'bicubic-residual',
  /** Its noise seed is the generation seed XOR 0x9e3779b9 (so it differs from the base image's noise). */
  seed: 'xor-0x9e3779b9',
} as const;

const literals = <T extends Record<string, string | number>>(o: T) =>
  z.object(Object.fromEntries(Object.entries(o).map(([k, v]) => [k, z.literal(v)])) as { [K in keyof T]: z.ZodLiteral<T[K]> });

/** Schema version 1 predates the stated conventions; it used exactly today's, so they are filled in. */
function upgradeV1(value: unknown): unknown {
  if (!value || typeof value !== 'object' || (value as { schemaVersion?: unknown }).schemaVersion !== 1) return value;
  const m = value as Record<string, Record<string, unknown> | undefined>;
  return {
    ...m,
    latent: m.latent && { shiftFactor: 0, ...m.latent },
    diffusion: m.diffusion && { conventions: DIFFUSION_CONVENTIONS, ...m.diffusion },
    upscale: m.upscale && { conventions: UPSCALE_CONVENTIONS, ...m.upscale },
  };
}

export const manifestObject = z.object({
  schemaVersion: z.union([z.literal(1), z.literal(2)]),
  name: modelNameSchema,
  version: versionSchema,
  createdAt: z.string(),
  imageSize: z.number().int().positive(),
  /** The VAE's latents z are scaled for diffusion as (z − shiftFactor)·scaleFactor, and back before decoding. */
  latent: z.object({
    channels: z.number().int().positive(),
    size: z.number().int().positive(),
    scaleFactor: z.number().positive(),
    shiftFactor: z.number(),
  }),
  tokenizer: z.object({
    maxLength: z.number().int().min(3),
    padId: z.number().int().nonnegative(),
    vocabSize: z.number().int().positive(),
  }),
  networks: z.object({
    textEncoder: textEncoderConfigSchema,
    imageEncoder: imageEncoderConfigSchema,
    vae: vaeConfigSchema,
    unet: unetConfigSchema,
    upscaler: unetConfigSchema.optional(),
  }),
  diffusion: z.object({
    schedule: scheduleSchema,
    predictionType: z.enum(PREDICTION_TYPES),
    defaults: z.object({ steps: z.number().int().positive(), guidance: z.number(), sampler: z.enum(SAMPLER_NAMES) }),
    conventions: literals(DIFFUSION_CONVENTIONS),
  }),
  upscale: z
    /**
     * The upscaler diffuses the residual over bicubic upsampling of the low-resolution image, with its own
     * prediction type; `steps` is its default number of sampler steps.
     */
    .object({
      factor: z.literal(2),
      noiseLevel: z.number().int().nonnegative(),
      steps: z.number().int().positive(),
      predictionType: z.enum(PREDICTION_TYPES),
      schedule: scheduleSchema,
      conventions: literals(UPSCALE_CONVENTIONS),
    })
    .optional(),
  /** Every file of the bundle with its SHA-256 and size; the manifest itself is not listed. */
  files: z.record(bundlePathSchema, fileSchema),
  weights: z.enum(['float32', 'float16']),
  training: z.object({
    preset: z.string(),
    seed: z.number().int(),
    command: z.string(),
    commit: z.string(),
    backend: z.string(),
    data: z.array(
      z.object({
        name: z.string(),
        description: z.string(),
        licence: z.string(),
        attribution: z.string().optional(),
        count: z.number().int(),
      }),
    ),
    stages: z.record(z.object({ steps: z.number().int(), wallSeconds: z.number(), finalLoss: z.number().optional() })),
  }),
  /** Max error of each exported graph against the trained tfjs network on a check input (relative to output scale). */
  exportCheck: z.record(z.number()),
  metrics: z.record(z.unknown()).optional(),
  /** Credit the training data's licence requires wherever the model's images are shown (CC-BY and the like). */
  attribution: z.string().max(1000).optional(),
  /** Prompts that show the model at its best (the page offers them to click). */
  examples: z.array(z.string().min(1).max(200)).max(40).optional(),
});
export const manifestSchema = z.preprocess(upgradeV1, manifestObject);
export type Manifest = z.infer<typeof manifestObject>;

export function parseManifest(value: unknown): Manifest {
  const r = manifestSchema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new InvalidArgumentError(['manifest', ...issue.path].join('.'), issue.message);
  }
  return r.data;
}

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  // SubtleCrypto's types want an ArrayBuffer-backed view; the bytes are never shared memory here.
  const digest = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** A bundle's version: the content hash of its files (path and SHA-256 of each), so equal files mean an equal version. */
export async function bundleVersion(files: Manifest['files']): Promise<string> {
  const hash = await sha256Hex(
    new TextEncoder().encode(
      Object.entries(files)
        .sort()
        .map(([p, f]) => `${p}:${f.sha256}`)
        .join('\n'),
    ),
  );
  return hash.slice(0, 16);
}
