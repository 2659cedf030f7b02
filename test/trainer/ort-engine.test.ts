import { beforeAll, describe, expect, it } from 'vitest';
import { ADAM, emaDecayAt, type EngineSettings, type TrainingEngine } from '../../trainer/engine.ts';
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

  it('the update is AdamW as defined: global-norm clipping, bias correction, decoupled decay on matrices, EMA (two steps, 1e-5)', async () => {
    // Clipped hard (the gradient norm is far above 0.01), so the clip scale reaches both moments.
    const settings: EngineSettings = { seed: 4, weightDecay: 0.1, clipNorm: 0.01, emaDecay: 0.99 };
    const engine = await createOrtEngine(denoising(2), settings, { threads: 1, exposeGradients: true });
    const state = engine.checkpointTensors();
    const get = (kind: string, key: string) => Float64Array.from(state.get(`${kind}:${key}`)?.data ?? []);
    const keys = engine.params.map((p) => p.key);
    const m = new Map(keys.map((k) => [k, new Float64Array(get('param', k).length)]));
    const v = new Map(keys.map((k) => [k, new Float64Array(get('param', k).length)]));
    const param = new Map(keys.map((k) => [k, get('param', k)]));
    const ema = new Map(keys.map((k) => [k, get('ema', k)]));
    const lr = 3e-3;
    for (let step = 0; step < 2; step++) {
      await engine.step(step, lr);
      const grads = new Map(keys.map((k) => [k, engine.gradient(k)]));
      const norm = Math.sqrt([...grads.values()].reduce((a, g) => a + g.reduce((b, x) => b + x * x, 0), 0));
      expect(norm).toBeGreaterThan(10 * settings.clipNorm);
      const scale = settings.clipNorm / Math.max(norm, settings.clipNorm);
      const t = step + 1;
      const [c1, c2] = [1 / (1 - ADAM.beta1 ** t), 1 / (1 - ADAM.beta2 ** t)];
      const decay = emaDecayAt(settings.emaDecay!, t);
      const after = engine.checkpointTensors();
      for (const p of engine.params) {
        const [g, pm, pv, pp, pe] = [grads.get(p.key)!, m.get(p.key)!, v.get(p.key)!, param.get(p.key)!, ema.get(p.key)!];
        const wd = p.shape.length > 1 ? settings.weightDecay : 0;
        for (let i = 0; i < pp.length; i++) {
          const gi = g[i] * scale;
          pm[i] = ADAM.beta1 * pm[i] + (1 - ADAM.beta1) * gi;
          pv[i] = ADAM.beta2 * pv[i] + (1 - ADAM.beta2) * gi * gi;
          pp[i] -= lr * ((c1 * pm[i]) / (Math.sqrt(c2 * pv[i]) + ADAM.epsilon) + wd * pp[i]);
          pe[i] = decay * pe[i] + (1 - decay) * pp[i];
        }
        for (const [kind, want] of [
          ['param', pp],
          ['adam_m', pm],
          ['adam_v', pv],
          ['ema', pe],
        ] as const) {
          const got = after.get(`${kind}:${p.key}`)!.data;
          const err = Math.max(...got.map((x, i) => Math.abs(x - want[i])));
          expect(err / Math.max(...want.map(Math.abs), 1e-30), `${kind}:${p.key} at step ${t}`).toBeLessThan(1e-5);
        }
      }
    }
    engine.dispose();
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
