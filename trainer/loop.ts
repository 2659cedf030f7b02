import * as tf from '@tensorflow/tfjs-core';
import { appendFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadCheckpoint, saveCheckpoint, writeAtomic, type StoredTensor } from './checkpoint.ts';
import { encodePng } from './data/png.ts';
import { ProgressBar } from './progress.ts';
import { lossCurve } from './report/plot.ts';
import type { ParamStore } from './tfjs/params.ts';

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
  clipNorm: number;
  weightDecay?: number;
  /** EMA decay for the exported weights; undefined = no EMA. */
  emaDecay?: number;
  checkpointEvery: number;
  sampleEvery?: number;
  resume: boolean;
  stores: ParamStore[];
  /** Loss of batch `step`; runs inside tf.tidy and may use only deterministic functions of step. */
  loss: (step: number) => tf.Scalar;
  /** Called with the step after each sampleEvery steps and at the end, for sample grids. */
  onSample?: (step: number) => Promise<void> | void;
  log?: (line: string) => void;
}

export interface LoopResult {
  steps: number;
  losses: number[];
  finalLoss: number;
  wallSeconds: number;
  /** EMA weights by store prefix (when emaDecay was set). */
  ema?: Map<string, Map<string, StoredTensor>>;
}

interface Slot {
  key: string;
  variable: tf.Variable;
  m: tf.Variable;
  v: tf.Variable;
  ema?: tf.Variable;
}

/**
 * The one training loop every stage uses: AdamW with linear warm-up, global-norm gradient clipping,
 * optional EMA, atomic checkpoints every N steps and on SIGINT/SIGTERM, exact resume (weights, optimiser
 * moments, step; data order and noise derive from the step), and a clear stop on a non-finite loss.
 */
export async function trainLoop(o: LoopOptions): Promise<LoopResult> {
  mkdirSync(o.dir, { recursive: true });
  const ckptPath = join(o.dir, 'checkpoint.bin');
  // Networks create their parameters on first use: one forward pass makes every variable exist.
  tf.dispose(tf.tidy(() => o.loss(0)));
  const slots: Slot[] = [];
  for (const store of o.stores)
    for (const [name, variable] of store.variables)
      slots.push({
        key: `${store.prefix}/${name}`,
        variable,
        m: tf.variable(tf.zerosLike(variable), false),
        v: tf.variable(tf.zerosLike(variable), false),
        ema: o.emaDecay !== undefined ? tf.variable(variable.clone(), false) : undefined,
      });

  let step = 0;
  let losses: number[] = [];
  if (o.resume) {
    const ckpt = loadCheckpoint(ckptPath);
    if (ckpt) {
      step = ckpt.step;
      losses = (ckpt.meta.losses as number[]) ?? [];
      for (const s of slots) {
        const restore = (prefix: string, v: tf.Variable | undefined) => {
          const t = ckpt.tensors.get(`${prefix}:${s.key}`);
          if (!v) return;
          if (!t) throw new Error(`checkpoint ${ckptPath} has no ${prefix}:${s.key}; was it made by another config?`);
          v.assign(tf.tensor(t.data, t.shape));
        };
        restore('param', s.variable);
        restore('adam_m', s.m);
        restore('adam_v', s.v);
        restore('ema', s.ema);
      }
      o.log?.(`${o.stage}: resumed from step ${step}`);
    }
  }

  const save = () => {
    const tensors = new Map<string, StoredTensor>();
    for (const s of slots) {
      const put = (prefix: string, v: tf.Variable | undefined) => v && tensors.set(`${prefix}:${s.key}`, { shape: [...v.shape], data: v.dataSync() as Float32Array });
      put('param', s.variable);
      put('adam_m', s.m);
      put('adam_v', s.v);
      put('ema', s.ema);
    }
    saveCheckpoint(ckptPath, { step, meta: { stage: o.stage, losses }, tensors });
    writeAtomic(join(o.dir, 'loss.png'), encodePng(lossCurve(losses)));
  };

  let stopSignal: string | undefined;
  const onSignal = (sig: string) => () => (stopSignal = sig);
  const handlers = { SIGINT: onSignal('SIGINT'), SIGTERM: onSignal('SIGTERM') };
  process.on('SIGINT', handlers.SIGINT);
  process.on('SIGTERM', handlers.SIGTERM);

  const [b1, b2, eps] = [0.9, 0.999, 1e-8];
  const wd = o.weightDecay ?? 0;
  const bar = new ProgressBar(o.stage, o.steps, step);
  const started = Date.now();
  const lossLog = join(o.dir, 'loss.jsonl');
  try {
    while (step < o.steps) {
      const lr = o.lr * Math.min(1, (step + 1) / Math.max(1, o.warmupSteps));
      const t = step + 1; // Adam's bias-correction counter
      const lossValue = tf.tidy(() => {
        const { value, grads } = tf.variableGrads(() => o.loss(step), slots.map((s) => s.variable));
        const gs = slots.map((s) => grads[s.variable.name]);
        const norm = Math.sqrt(gs.reduce((acc, g) => acc + tf.sum(tf.square(g)).dataSync()[0], 0));
        const scale = norm > o.clipNorm ? o.clipNorm / norm : 1;
        const c1 = 1 / (1 - b1 ** t);
        const c2 = 1 / (1 - b2 ** t);
        slots.forEach((s, i) => {
          const g = tf.mul(gs[i], scale);
          s.m.assign(tf.add(tf.mul(s.m, b1), tf.mul(g, 1 - b1)));
          s.v.assign(tf.add(tf.mul(s.v, b2), tf.mul(tf.square(g), 1 - b2)));
          const update = tf.div(tf.mul(s.m, c1), tf.add(tf.sqrt(tf.mul(s.v, c2)), eps));
          const decay = wd > 0 && s.variable.rank > 1 ? tf.mul(s.variable, wd) : tf.scalar(0);
          s.variable.assign(tf.sub(s.variable, tf.mul(tf.add(update, decay), lr)));
          if (s.ema) s.ema.assign(tf.add(tf.mul(s.ema, o.emaDecay!), tf.mul(s.variable, 1 - o.emaDecay!)));
        });
        return value.dataSync()[0];
      });
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
  let ema: LoopResult['ema'];
  if (o.emaDecay !== undefined) {
    ema = new Map();
    for (const s of slots) {
      const [prefix, ...rest] = s.key.split('/');
      if (!ema.has(prefix)) ema.set(prefix, new Map());
      ema.get(prefix)!.set(rest.join('/'), { shape: [...s.ema!.shape], data: s.ema!.dataSync() as Float32Array });
    }
  }
  for (const s of slots) [s.m, s.v, s.ema].forEach((v) => v?.dispose());
  return { steps: step, losses, finalLoss, wallSeconds: (Date.now() - started) / 1000, ema };
}
