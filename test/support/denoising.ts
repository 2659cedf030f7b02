import { createRng, mixSeed } from '../../models/diffusion/rng.ts';
import { createSchedule } from '../../models/diffusion/schedule.ts';
import type { Ops } from '../../models/nn/ops.ts';
import { unet } from '../../models/nn/unet.ts';
import { noisedBatch } from '../../trainer/diffusion-loss.ts';
import type { Objective } from '../../trainer/objective.ts';
import { TINY } from './tiny-networks.ts';

/** v-prediction denoising of a fixed set of random "latents" with random text states: the unet stage in small. */
export function denoising(batch: number): Objective {
  const cfg = TINY.unet;
  const schedule = createSchedule({ kind: 'scaled-linear', trainSteps: 1000, zeroTerminalSnr: true });
  const pool = createRng(5).fill(16 * 8 * 8 * 4);
  const contexts = createRng(6).fill(16 * 8 * 32);
  return {
    name: 'unet',
    inputs: {
      sample: { shape: [batch, 8, 8, 4], dtype: 'float32', image: true },
      timestep: { shape: [batch], dtype: 'float32' },
      context: { shape: [batch, 8, 32], dtype: 'float32' },
      target: { shape: [batch, 8, 8, 4], dtype: 'float32', image: true },
    },
    loss<T>(net: (n: string) => Ops<T>, x: Record<string, T>) {
      const ops = net('unet');
      const d = ops.sub(unet(ops, cfg, { sample: x.sample, timestep: x.timestep, context: x.context }), x.target);
      return ops.meanAll(ops.mul(d, d));
    },
    batch(step) {
      const rows = Array.from({ length: batch }, (_, k) => (step * batch + k) % 16);
      const x0 = new Float32Array(batch * 256);
      const context = new Float32Array(batch * 256);
      rows.forEach((r, k) => {
        x0.set(pool.subarray(r * 256, (r + 1) * 256), k * 256);
        context.set(contexts.subarray(r * 256, (r + 1) * 256), k * 256);
      });
      const { t, xt, target } = noisedBatch(schedule, x0, batch, 'v_prediction', mixSeed(1, 2), step);
      return { sample: xt, timestep: t, context, target };
    },
  };
}
