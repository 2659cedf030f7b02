import { beforeAll, describe, expect, it } from 'vitest';
import type { EngineSettings, TrainingEngine } from '../../trainer/engine.ts';
import { createOrtEngine } from '../../trainer/ort/engine.ts';
import { initTrainingBackend } from '../../trainer/tfjs/backend.ts';
import { createTfjsEngine } from '../../trainer/tfjs/engine.ts';
import { denoising } from '../support/denoising.ts';

const SETTINGS: EngineSettings = { seed: 4, weightDecay: 0.01, clipNorm: 1, emaDecay: 0.99 };

async function train(engine: TrainingEngine, steps: number): Promise<number[]> {
  const losses: number[] = [];
  for (let s = 0; s < steps; s++) losses.push(await engine.step(s, 2e-3));
  return losses;
}

describe('the ONNX training-graph engine', () => {
  beforeAll(async () => {
    await initTrainingBackend('wasm');
  });

  it('50 AdamW steps from the same seed end within 1 % of tfjs-wasm', async () => {
    const ort = await createOrtEngine(denoising(4), SETTINGS, { threads: 2 });
    const tfjs = await createTfjsEngine(denoising(4), SETTINGS);
    const a = await train(ort, 50);
    const b = await train(tfjs, 50);
    // The same start: first losses agree to float rounding.
    expect(Math.abs(a[0] - b[0]) / b[0]).toBeLessThan(1e-5);
    const tail = (l: number[]) => l.slice(-5).reduce((s, x) => s + x, 0) / 5;
    expect(Math.abs(tail(a) - tail(b)) / tail(b)).toBeLessThan(0.01);
    // Weights and EMA agree too, and a checkpoint moves between engines.
    const ema = (e: TrainingEngine) => e.weights('unet', 'ema').get('conv_out.weight')!.data;
    const [x, y] = [ema(ort), ema(tfjs)];
    let diff = 0;
    let norm = 0;
    for (let i = 0; i < x.length; i++) [diff, norm] = [diff + (x[i] - y[i]) ** 2, norm + y[i] ** 2];
    expect(Math.sqrt(diff / norm)).toBeLessThan(0.02);
    tfjs.restore(ort.checkpointTensors(), 'ort');
    expect(Math.abs((await tfjs.step(50, 0)) - (await ort.step(50, 0)))).toBeLessThan(1e-5);
    ort.dispose();
    tfjs.dispose();
  });

  it('a non-finite loss leaves the state as it was', async () => {
    const engine = await createOrtEngine(denoising(2), SETTINGS, { threads: 1 });
    await engine.step(0, 1e-3);
    const before = engine.checkpointTensors();
    const poisoned = {
      ...denoising(2),
      batch: (s: number) => ({ ...denoising(2).batch(s), target: new Float32Array(2 * 256).fill(Number.NaN) }),
    };
    const bad = await createOrtEngine(poisoned, SETTINGS, { threads: 1 });
    bad.restore(before, 'test');
    expect(await bad.step(1, 1e-3)).toBeNaN();
    for (const [k, v] of bad.checkpointTensors()) expect(v.data, k).toEqual(before.get(k)!.data);
    engine.dispose();
    bad.dispose();
  });

  it('resident memory does not grow over 1000 steps', async () => {
    const engine = await createOrtEngine(denoising(2), SETTINGS, { threads: 2 });
    await train(engine, 200);
    global.gc?.();
    const start = process.memoryUsage().rss;
    for (let s = 200; s < 1000; s++) await engine.step(s, 1e-3);
    global.gc?.();
    const grown = (process.memoryUsage().rss - start) / 2 ** 20;
    expect(grown, `RSS grew ${grown.toFixed(1)} MiB`).toBeLessThan(32);
    engine.dispose();
  }, 120_000);
});
