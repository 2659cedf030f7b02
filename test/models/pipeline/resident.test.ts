/**
 * The loop a GPU keeps on the device (U-Net → sampler-step graph → U-Net, previews and the result decoded
 * there) against the JS loop, both on onnxruntime-node: same coefficients from the same samplers, so the same
 * images within float32 rounding. The graph alone is held to `applyStep` + `classifierFreeGuidance`.
 */
import * as ort from 'onnxruntime-node';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { classifierFreeGuidance, createRng, createSampler, createSchedule, SAMPLER_NAMES } from '../../../models/diffusion/index.ts';
import { applyStep } from '../../../models/diffusion/samplers/index.ts';
import { generate } from '../../../models/pipeline/generate.ts';
import type { Tensor } from '../../../models/pipeline/runtime.ts';
import { SAMPLER_STEP, stepCoefficients } from '../../../models/pipeline/sampler-graph.ts';
import { samplerStepGraph } from '../../../models/pipeline/sampler-graph-onnx.ts';
import { openBundle, type NodeBundle } from '../../../node/bundle.ts';
import { ROOT } from '../../support/cli.ts';

const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);

describe('the sampler-step graph', () => {
  const latent = { scaleFactor: 0.7, shiftFactor: 0.1 };
  const dims = [2, 4, 3, 3];
  const n = 2 * 4 * 3 * 3;
  let session: ort.InferenceSession;
  beforeAll(async () => {
    session = await ort.InferenceSession.create(samplerStepGraph());
  });

  for (const name of SAMPLER_NAMES)
    for (const [scale, rescale] of [
      [1, 0],
      [3, 0],
      [4, 0.7],
    ])
      it(`applies ${name} with guidance ${scale}, rescale ${rescale} as the JS step does`, async () => {
        const rng = createRng(7);
        const run = createSampler(name, createSchedule({ kind: 'cosine', trainSteps: 1000, zeroTerminalSnr: true }), {
          steps: 6,
          predictionType: 'v_prediction',
          rng: createRng(3),
        });
        const guided = scale !== 1;
        let x: Float32Array = rng.fill(n);
        let x0Prev: Float32Array = new Float32Array(n);
        for (let i = 0; i < 6; i++) {
          const out = rng.fill((guided ? 2 : 1) * n);
          const plan = run.plan(i, n);
          const m = guided ? classifierFreeGuidance(out.subarray(0, n), out.subarray(n), { scale, rescale, batch: 2 }) : out;
          const js = applyStep(plan, m, x, x0Prev);
          const tensor = (data: Float32Array, d = dims) => new ort.Tensor('float32', data, d);
          const r = await session.run({
            [SAMPLER_STEP.inputs.out]: tensor(out, [(guided ? 2 : 1) * 2, 4, 3, 3]),
            [SAMPLER_STEP.inputs.sample]: tensor(x),
            [SAMPLER_STEP.inputs.x0Prev]: tensor(x0Prev),
            [SAMPLER_STEP.inputs.noise]: tensor(plan.noise ?? new Float32Array(n)),
            [SAMPLER_STEP.inputs.coefficients]: tensor(stepCoefficients(plan, { scale, rescale }, latent), [10]),
          });
          const o = SAMPLER_STEP.outputs;
          const got = (k: keyof typeof o) => r[o[k]].data as Float32Array;
          // x̂₀ at the first step of a zero-terminal schedule carries 1/sqrt(ᾱ) = 4096 in its coefficients.
          const tol = 1e-5 * (1 + Math.abs(plan.coefficients.x0.x) + Math.abs(plan.coefficients.x0.m));
          expect(maxDiff(got('x0'), js.x0)).toBeLessThan(tol);
          expect(maxDiff(got('prev'), js.prev)).toBeLessThan(1e-4);
          expect(
            maxDiff(
              got('prevLatents'),
              js.prev.map((v) => v / latent.scaleFactor + latent.shiftFactor),
            ),
          ).toBeLessThan(2e-4);
          expect(
            maxDiff(
              got('x0Latents'),
              js.x0.map((v) => v / latent.scaleFactor + latent.shiftFactor),
            ),
          ).toBeLessThan(2 * tol);
          const next = got('nextSample');
          expect(next.length).toBe((guided ? 2 : 1) * n);
          expect(maxDiff(next.subarray(next.length - n), js.prev)).toBeLessThan(1e-4);
          if (guided) expect(maxDiff(next.subarray(0, n), js.prev)).toBeLessThan(1e-4);
          x = js.prev;
          x0Prev = js.x0;
        }
      });
});

describe('the resident loop on the shipped shapes model', () => {
  let cpu: NodeBundle;
  let resident: NodeBundle;
  beforeAll(async () => {
    cpu = await openBundle(join(ROOT, 'models/bundles/shapes'));
    resident = await openBundle(join(ROOT, 'models/bundles/shapes'), { residentLoop: true });
  });

  const image = async (b: NodeBundle, o: { sampler: string; guidance: number; guidanceRescale?: number; previews: Tensor[] }) => {
    const runtime = await b.runtime();
    const out = await generate(runtime, b.manifest, {
      cond: (await b.encodeText(['a large red circle'])).hidden,
      uncond: (await b.encodeText([''])).hidden,
      steps: 8,
      seed: 5,
      ...o,
      previewEvery: 3,
      onStep: ({ preview }) => {
        if (preview) o.previews.push(preview);
      },
    });
    return { out, reads: runtime.deviceReads?.(), onDevice: runtime.resident !== undefined };
  };

  for (const [sampler, guidance, guidanceRescale] of [
    ['dpmpp-2m', 1.5, 0],
    ['euler-a', 1, 0],
    ['ddpm', 3, 0.5],
  ] as const)
    it(`gives the JS loop's image and previews (${sampler}, guidance ${guidance}, rescale ${guidanceRescale})`, async () => {
      const a = { previews: [] as Tensor[] };
      const b = { previews: [] as Tensor[] };
      const js = await image(cpu, { sampler, guidance, guidanceRescale, ...a });
      const dev = await image(resident, { sampler, guidance, guidanceRescale, ...b });
      expect(dev.out.dims).toEqual(js.out.dims);
      // Measured: ≤ 4e-6 (float32 rounding in the graph vs float64 in JS).
      expect(maxDiff(dev.out.data, js.out.data)).toBeLessThan(1e-4);
      expect(b.previews.length).toBe(2);
      expect(a.previews.length).toBe(2);
      for (const [k, p] of b.previews.entries()) expect(maxDiff(p.data, a.previews[k].data)).toBeLessThan(1e-4);
      // On the CPU nothing is on a device: no reads counted (the browser test counts them on WebGPU).
      expect([js.reads, dev.reads]).toEqual([0, 0]);
      expect([js.onDevice, dev.onDevice]).toEqual([false, true]);
    });

  it("upscales as the JS loop does (the upscaler's loop on the device too, its result read once)", async () => {
    const run = async (b: NodeBundle) =>
      generate(await b.runtime(), b.manifest, {
        cond: (await b.encodeText(['a small green triangle'])).hidden,
        uncond: (await b.encodeText([''])).hidden,
        steps: 6,
        seed: 9,
        upscale: true,
      });
    const [js, dev] = [await run(cpu), await run(resident)];
    expect(dev.dims).toEqual([1, 3, 2 * cpu.manifest.imageSize, 2 * cpu.manifest.imageSize]);
    expect(maxDiff(dev.data, js.data)).toBeLessThan(1e-4);
  });
});
