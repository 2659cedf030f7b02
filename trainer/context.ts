import * as tf from '@tensorflow/tfjs-core';
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadTokenizer, type PromptTokenizer } from '../models/text/tokenizer.ts';
import {
  validateImageEncoderConfig,
  validateTextEncoderConfig,
  validateUnetConfig,
  validateVaeConfig,
  vaeDownFactor,
  type ImageEncoderConfig,
  type TextEncoderConfig,
  type UnetConfig,
  type VaeConfig,
} from '../models/nn/configs.ts';
import type { Dataset, Sample } from './data/dataset.ts';
import { loadPresetData, type SplitData } from './data/preset-data.ts';
import type { Preset, StageSchedule } from './presets.ts';
import type { Backend } from './backend.ts';
import type { EngineSettings, TrainingEngine } from './engine.ts';
import type { Objective } from './objective.ts';

export interface StageSummary {
  steps: number;
  wallSeconds: number;
  finalLoss?: number;
  [key: string]: unknown;
}

export interface Configs {
  textEncoder: TextEncoderConfig;
  imageEncoder: ImageEncoderConfig;
  vae: VaeConfig;
  unet: UnetConfig;
  upscaler?: UnetConfig;
  latentSize: number;
}

/** Shared state of one training run: its folder, preset, seed, data and derived configs. */
export class RunContext {
  private cache = new Map<string, unknown>();

  constructor(
    readonly preset: Preset,
    readonly dir: string,
    readonly seed: number,
    readonly resume: boolean,
    readonly backend: Backend,
    readonly command: string,
    readonly maxSteps?: number,
    readonly checkpointEvery = 100,
    readonly log: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
  ) {
    mkdirSync(dir, { recursive: true });
  }

  stageDir(stage: string): string {
    const d = join(this.dir, stage);
    mkdirSync(d, { recursive: true });
    return d;
  }

  steps(n: number): number {
    return this.maxSteps === undefined ? n : Math.min(n, this.maxSteps);
  }

  private memo<T>(key: string, make: () => T): T {
    if (!this.cache.has(key)) this.cache.set(key, make());
    return this.cache.get(key) as T;
  }

  /** The preset's data at `size` px (default: the model's image size), loaded once per run. */
  data(size = this.preset.imageSize): Promise<SplitData> {
    return this.memo(`data:${size}`, () => loadPresetData(this.preset.data, this.seed, size));
  }

  tokenizerPath(): string {
    return join(this.dir, 'tokenizer', 'tokenizer.json');
  }

  tokenizer(): PromptTokenizer {
    return this.memo('tokenizer', () => {
      if (!existsSync(this.tokenizerPath())) throw new Error(`missing ${this.tokenizerPath()}: run the tokenizer stage first`);
      return loadTokenizer(JSON.parse(readFileSync(this.tokenizerPath(), 'utf8')), this.preset.maxLength);
    });
  }

  configs(): Configs {
    return this.memo('configs', () => {
      const p = this.preset;
      const tok = this.tokenizer();
      const textEncoder = validateTextEncoderConfig({
        ...p.textEncoder,
        vocabSize: tok.vocabSize,
        padId: tok.padId,
        maxLength: p.maxLength,
      });
      const vae = validateVaeConfig({ ...p.vae, inChannels: 3 });
      const common = { contextDim: textEncoder.width, noiseLevelInput: false, conditionChannels: 0 };
      const unet = validateUnetConfig({ ...p.unet, ...common, inChannels: vae.latentChannels, outChannels: vae.latentChannels });
      const upscaler = p.upscaler
        ? validateUnetConfig({
            levels: p.upscaler.levels,
            midAttention: p.upscaler.midAttention,
            groups: p.upscaler.groups,
            heads: p.upscaler.heads,
            timeEmbedDim: p.upscaler.timeEmbedDim,
            inChannels: 3,
            outChannels: 3,
            conditionChannels: 3,
            contextDim: 0,
            noiseLevelInput: true,
          })
        : undefined;
      return {
        textEncoder,
        imageEncoder: validateImageEncoderConfig({ ...p.imageEncoder, imageSize: p.imageSize, inChannels: 3 }),
        vae,
        unet,
        upscaler,
        latentSize: p.imageSize / vaeDownFactor(vae),
      };
    });
  }

  /** An engine of the run's back end for an objective; gradients are clipped to global norm 1. */
  engine(objective: Objective, settings: Partial<Pick<EngineSettings, 'weightDecay' | 'emaDecay'>> = {}): Promise<TrainingEngine> {
    return this.backend.engine(objective, {
      seed: this.seed,
      clipNorm: 1,
      weightDecay: settings.weightDecay ?? 0,
      emaDecay: settings.emaDecay,
    });
  }

  /** The loop options every stage shares: its folder, schedule, checkpointing, resume and logging. */
  loopOptions(stage: string, sched: Pick<StageSchedule, 'steps' | 'batchSize' | 'lr' | 'warmupSteps' | 'lrSchedule' | 'lrCycles'>) {
    return {
      stage,
      dir: this.stageDir(stage),
      steps: this.steps(sched.steps),
      batchSize: sched.batchSize,
      lr: sched.lr,
      warmupSteps: sched.warmupSteps,
      lrSchedule: sched.lrSchedule,
      lrCycles: sched.lrCycles,
      checkpointEvery: this.checkpointEvery,
      resume: this.resume,
      log: this.log,
    };
  }

  /** The decoder the pipeline uses: the decoder stage's fine-tune where the preset has one, else the VAE stage's. */
  vaeDecoderPath(): string {
    return join(this.dir, this.preset.stages.decoder ? 'decoder' : 'vae', 'vae_decoder.bin');
  }

  summaryPath(stage: string): string {
    return join(this.stageDir(stage), 'done.json');
  }

  done(stage: string): StageSummary | undefined {
    const p = this.summaryPath(stage);
    return existsSync(p) ? (JSON.parse(readFileSync(p, 'utf8')) as StageSummary) : undefined;
  }

  markDone(stage: string, summary: StageSummary): void {
    writeFileSync(this.summaryPath(stage), JSON.stringify(summary, null, 2));
  }
}

/** The given samples' images stacked NHWC. */
export function imageData(ds: Dataset, indices: number[]): Float32Array {
  return stackImages(
    indices.map((i) => ds.samples[i]),
    ds.imageSize,
  );
}

/** Samples' `size`-px RGB images stacked as one NHWC batch. */
export function stackImages(samples: readonly Sample[], size: number): Float32Array {
  const data = new Float32Array(samples.length * size * size * 3);
  samples.forEach((sample, k) => data.set(sample.image.data, k * size * size * 3));
  return data;
}

/** The given samples' images as an NHWC batch tensor. */
export function imageBatch(ds: Dataset, indices: number[]): tf.Tensor4D {
  return tf.tensor4d(imageData(ds, indices), [indices.length, ds.imageSize, ds.imageSize, 3]);
}
