import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadCheckpoint, saveCheckpoint, writeAtomic } from './checkpoint.ts';
import { encodePng } from '../node/png.ts';
import { ProgressBar } from '../node/progress.ts';
import { lossCurve } from './report/plot.ts';
import type { TrainingEngine } from './engine.ts';

export class TrainingDivergedError extends Error {
  override readonly name = 'TrainingDivergedError';
}
export class TrainingInterruptedError extends Error {
  override readonly name = 'TrainingInterruptedError';
  constructor(
    readonly signal: string,
    readonly step: number,
  ) {
    super(`interrupted by ${signal} at step ${step}; checkpoint saved, continue with --resume`);
  }
}

export interface LoopOptions {
  stage: string;
  dir: string;
  steps: number;
  batchSize: number;
  lr: number;
  warmupSteps: number;
  /** After warm-up: constant, or cosine decay to 0 at the last step. */
  lrSchedule?: 'constant' | 'cosine';
  /** Cosine cycles (warm restarts); 1 when absent. */
  lrCycles?: number;
  checkpointEvery: number;
  sampleEvery?: number;
  resume: boolean;
  engine: TrainingEngine;
  /** Called with the step after each sampleEvery steps and at the end, for sample grids. */
  onSample?: (step: number) => Promise<void> | void;
  log?: (line: string) => void;
}

export interface LoopResult {
  steps: number;
  losses: number[];
  finalLoss: number;
  /** Training wall-clock of the stage, summed over every run of it (resumes included). */
  wallSeconds: number;
}

/**
 * Linear warm-up over `warmupSteps`, then constant, or cosine decay to 0 at the end of each of `lrCycles`
 * equal cycles (the warm-up inside the first).
 */
export function learningRate(o: Pick<LoopOptions, 'lr' | 'warmupSteps' | 'lrSchedule' | 'lrCycles' | 'steps'>, step: number): number {
  const warm = Math.min(1, (step + 1) / Math.max(1, o.warmupSteps));
  if (o.lrSchedule !== 'cosine' || step < o.warmupSteps) return o.lr * warm;
  const cycles = o.lrCycles ?? 1;
  const length = o.steps / cycles;
  const cycle = Math.min(cycles - 1, Math.floor(step / length));
  const start = cycle * length + (cycle === 0 ? o.warmupSteps : 0);
  const progress = (step - start) / Math.max(1, (cycle + 1) * length - start);
  return o.lr * 0.5 * (1 + Math.cos(Math.PI * Math.min(1, progress)));
}

/**
 * The one training loop every stage uses, on either engine: linear warm-up, atomic checkpoints every N
 * steps and on SIGINT/SIGTERM, exact resume (weights, optimiser moments, EMA, step; data order and noise
 * derive from the step), progress with ETA, and a clear stop on a non-finite loss.
 */
export async function trainLoop(o: LoopOptions): Promise<LoopResult> {
  const started = Date.now();
  mkdirSync(o.dir, { recursive: true });
  const ckptPath = join(o.dir, 'checkpoint.bin');
  let step = 0;
  let losses: number[] = [];
  // Wall-clock of the earlier runs of this stage, so a resumed stage reports its whole training time.
  let earlierSeconds = 0;
  if (o.resume) {
    const ckpt = loadCheckpoint(ckptPath);
    if (ckpt) {
      step = ckpt.step;
      losses = (ckpt.meta.losses as number[]) ?? [];
      earlierSeconds = typeof ckpt.meta.wallSeconds === 'number' ? ckpt.meta.wallSeconds : 0;
      if (o.engine.hasEma && ![...ckpt.tensors.keys()].some((k) => k.startsWith('ema:'))) {
        // A run that gained an EMA on resume: the average starts from the current weights.
        for (const [k, t] of [...ckpt.tensors]) if (k.startsWith('param:')) ckpt.tensors.set(`ema:${k.slice(6)}`, t);
        o.log?.(`${o.stage}: the checkpoint has no EMA; it starts from the weights at step ${step}`);
      }
      o.engine.restore(ckpt.tensors, ckptPath);
      o.log?.(`${o.stage}: resumed from step ${step}`);
    }
  }

  const wallSeconds = () => earlierSeconds + (Date.now() - started) / 1000;
  const save = () => {
    saveCheckpoint(ckptPath, {
      step,
      meta: { stage: o.stage, engine: o.engine.name, losses, wallSeconds: wallSeconds() },
      tensors: o.engine.checkpointTensors(),
    });
    writeAtomic(join(o.dir, 'loss.png'), encodePng(lossCurve(losses)));
  };

  let stopSignal: string | undefined;
  const onSignal = (sig: string) => () => (stopSignal = sig);
  const handlers = { SIGINT: onSignal('SIGINT'), SIGTERM: onSignal('SIGTERM') };
  process.on('SIGINT', handlers.SIGINT);
  process.on('SIGTERM', handlers.SIGTERM);

  const bar = new ProgressBar(o.stage, o.steps, step);
  const lossLog = join(o.dir, 'loss.jsonl');
  try {
    while (step < o.steps) {
      const lr = learningRate(o, step);
      const lossValue = await o.engine.step(step, lr);
      if (!Number.isFinite(lossValue)) {
        throw new TrainingDivergedError(
          `${o.stage}: loss became ${lossValue} at step ${step + 1}; stopped. The last good checkpoint (if any) is kept at ${ckptPath}; lower --lr or resume from it.`,
        );
      }
      losses.push(lossValue);
      step += 1;
      appendFileSync(lossLog, `${JSON.stringify({ step, loss: lossValue, lr })}\n`);
      bar.update(step, `loss ${lossValue.toFixed(4)}`, o.batchSize);
      if (step % o.checkpointEvery === 0 || step === o.steps) save();
      if (o.onSample && o.sampleEvery && step % o.sampleEvery === 0 && step !== o.steps) await o.onSample(step);
      // Yield to the event loop each step: signal handlers only run between tasks.
      await new Promise((resolve) => setImmediate(resolve));
      if (stopSignal) {
        save();
        throw new TrainingInterruptedError(stopSignal, step);
      }
    }
    if (o.onSample) await o.onSample(step);
  } finally {
    process.off('SIGINT', handlers.SIGINT);
    process.off('SIGTERM', handlers.SIGTERM);
  }
  const tail = losses.slice(-Math.max(1, Math.min(20, losses.length)));
  const finalLoss = tail.reduce((a, b) => a + b, 0) / tail.length;
  bar.done(`final loss ${finalLoss.toFixed(4)}`);
  return { steps: step, losses, finalLoss, wallSeconds: wallSeconds() };
}
