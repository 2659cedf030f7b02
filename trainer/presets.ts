import { InvalidArgumentError } from '../models/errors.ts';
import type { ScheduleConfig } from '../models/diffusion/schedule.ts';
import type { PredictionType } from '../models/diffusion/prediction.ts';
import type { ImageEncoderConfig, TextEncoderConfig, UnetConfig, VaeConfig } from '../models/nn/configs.ts';

export interface StageSchedule {
  steps: number;
  batchSize: number;
  lr: number;
  warmupSteps: number;
}

/** Everything that defines a model family: data, network sizes, schedules and how long each stage trains. */
export interface Preset {
  name: string;
  data: { kind: 'shapes'; count: number; heldOut: number; maxObjects: 1 | 2 } | { kind: 'folder'; path: string; heldOut: number };
  imageSize: number;
  maxLength: number;
  textEncoder: Omit<TextEncoderConfig, 'vocabSize' | 'padId' | 'maxLength'>;
  imageEncoder: Omit<ImageEncoderConfig, 'imageSize' | 'inChannels'>;
  vae: Omit<VaeConfig, 'inChannels'>;
  /** KL weight of the VAE loss: small, so latents stay informative but bounded. */
  klWeight: number;
  unet: Omit<UnetConfig, 'inChannels' | 'outChannels' | 'conditionChannels' | 'contextDim' | 'noiseLevelInput'>;
  upscaler?: Omit<UnetConfig, 'inChannels' | 'outChannels' | 'conditionChannels' | 'contextDim' | 'noiseLevelInput'> & StageSchedule & { noiseLevel: number };
  schedule: ScheduleConfig;
  predictionType: PredictionType;
  conditionDropout: number;
  emaDecay: number;
  defaults: { steps: number; guidance: number; sampler: 'dpmpp-2m' | 'ddim' | 'ddpm' | 'euler-a' };
  stages: { clip: StageSchedule; vae: StageSchedule; unet: StageSchedule };
  eval: { prompts: number; guidanceScales: number[]; steps: number };
}

/** The shipped model (models/bundles/shapes-small): about 25 minutes on 2 cores. */
const SHAPES_SMALL: Preset = {
  name: 'shapes-small',
  data: { kind: 'shapes', count: 2000, heldOut: 64, maxObjects: 1 },
  imageSize: 32,
  maxLength: 12,
  textEncoder: { width: 64, layers: 2, heads: 4, projectionDim: 64 },
  imageEncoder: { channels: [16, 32], groups: 8, projectionDim: 64 },
  vae: { latentChannels: 4, channels: [16, 32, 32], groups: 8, midAttention: false },
  klWeight: 1e-4,
  unet: {
    levels: [
      { channels: 48, resBlocks: 1, attention: 'none' },
      { channels: 64, resBlocks: 1, attention: 'self+cross' },
    ],
    midAttention: 'self+cross',
    groups: 16,
    heads: 4,
    timeEmbedDim: 64,
  },
  upscaler: {
    levels: [
      { channels: 32, resBlocks: 1, attention: 'none' },
      { channels: 48, resBlocks: 1, attention: 'none' },
    ],
    midAttention: 'none',
    groups: 8,
    heads: 1,
    timeEmbedDim: 32,
    steps: 150,
    batchSize: 16,
    lr: 1e-3,
    warmupSteps: 20,
    noiseLevel: 100,
  },
  schedule: { kind: 'scaled-linear', trainSteps: 1000, zeroTerminalSnr: true },
  predictionType: 'v_prediction',
  conditionDropout: 0.1,
  emaDecay: 0.99,
  defaults: { steps: 20, guidance: 4, sampler: 'dpmpp-2m' },
  stages: {
    clip: { steps: 200, batchSize: 48, lr: 2e-3, warmupSteps: 20 },
    vae: { steps: 250, batchSize: 16, lr: 2e-3, warmupSteps: 20 },
    unet: { steps: 800, batchSize: 32, lr: 1e-3, warmupSteps: 40 },
  },
  eval: { prompts: 48, guidanceScales: [1, 2, 4, 7], steps: 20 },
};

/** Every stage end to end in a few minutes on 2 cores: the smoke run; images are recognisable, not good. */
const SHAPES_TINY: Preset = {
  ...SHAPES_SMALL,
  name: 'shapes-tiny',
  stages: {
    clip: { steps: 60, batchSize: 48, lr: 2e-3, warmupSteps: 10 },
    vae: { steps: 80, batchSize: 16, lr: 2e-3, warmupSteps: 10 },
    unet: { steps: 150, batchSize: 32, lr: 1e-3, warmupSteps: 15 },
  },
  upscaler: { ...SHAPES_SMALL.upscaler!, steps: 30 },
  eval: { prompts: 32, guidanceScales: [1, 2, 4, 7], steps: 20 },
};

const PRESETS: Record<string, Preset> = { 'shapes-tiny': SHAPES_TINY, 'shapes-small': SHAPES_SMALL };

export function presetNames(): string[] {
  return Object.keys(PRESETS);
}

export function getPreset(name: string): Preset {
  const p = PRESETS[name];
  if (!p) throw new InvalidArgumentError('preset', `unknown preset '${name}'; choose one of ${presetNames().join(', ')}`);
  return structuredClone(p);
}
