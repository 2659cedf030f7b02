import { z } from 'zod';
import { InvalidArgumentError } from '../errors.ts';
import { BETA_SCHEDULES } from '../diffusion/schedule.ts';
import { PREDICTION_TYPES } from '../diffusion/prediction.ts';
import { SAMPLER_NAMES } from '../diffusion/samplers/types.ts';
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

const fileSchema = z.object({
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  size: z.number().int().nonnegative(),
});

export const BUNDLE_FILES = {
  textEncoder: 'text_encoder/model.onnx',
  unet: 'unet/model.onnx',
  vaeDecoder: 'vae_decoder/model.onnx',
  vaeEncoder: 'vae_encoder/model.onnx',
  upscaler: 'upscaler/model.onnx',
  imageEncoder: 'image_encoder/model.onnx',
  tokenizer: 'tokenizer/tokenizer.json',
} as const;

/** What a browser downloads to generate: the text and image encoders stay on the edge (and in evaluation). */
export const CLIENT_FILES = [BUNDLE_FILES.unet, BUNDLE_FILES.vaeDecoder, BUNDLE_FILES.vaeEncoder, BUNDLE_FILES.upscaler] as const;

export const manifestSchema = z.object({
  schemaVersion: z.literal(1),
  name: modelNameSchema,
  version: versionSchema,
  createdAt: z.string(),
  imageSize: z.number().int().positive(),
  latent: z.object({ channels: z.number().int().positive(), size: z.number().int().positive(), scaleFactor: z.number().positive() }),
  tokenizer: z.object({ maxLength: z.number().int().min(3), padId: z.number().int().nonnegative(), vocabSize: z.number().int().positive() }),
  networks: z.object({
    textEncoder: textEncoderConfigSchema,
    imageEncoder: imageEncoderConfigSchema,
    vae: vaeConfigSchema,
    unet: unetConfigSchema,
    upscaler: unetConfigSchema.optional(),
  }),
  diffusion: z.object({
    schedule: z.object({ kind: z.enum(BETA_SCHEDULES), trainSteps: z.number().int().min(2), betaStart: z.number(), betaEnd: z.number(), zeroTerminalSnr: z.boolean() }),
    predictionType: z.enum(PREDICTION_TYPES),
    defaults: z.object({ steps: z.number().int().positive(), guidance: z.number(), sampler: z.enum(SAMPLER_NAMES) }),
  }),
  upscale: z
    /**
     * The upscaler diffuses the residual over bicubic upsampling of the low-resolution image, with its own
     * prediction type; `steps` is its default number of sampler steps.
     */
    .object({ factor: z.literal(2), noiseLevel: z.number().int().nonnegative(), steps: z.number().int().positive(), predictionType: z.enum(PREDICTION_TYPES), schedule: z.object({ kind: z.enum(BETA_SCHEDULES), trainSteps: z.number().int().min(2), betaStart: z.number(), betaEnd: z.number(), zeroTerminalSnr: z.boolean() }) })
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
    data: z.array(z.object({ name: z.string(), description: z.string(), licence: z.string(), attribution: z.string().optional(), count: z.number().int() })),
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
export type Manifest = z.infer<typeof manifestSchema>;

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
  const hash = await sha256Hex(new TextEncoder().encode(Object.entries(files).sort().map(([p, f]) => `${p}:${f.sha256}`).join('\n')));
  return hash.slice(0, 16);
}
