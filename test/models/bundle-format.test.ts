/**
 * Generation written from docs/bundle-format.md alone: none of the project's diffusion, pipeline, tokenizer
 * or RNG code is imported. It must reproduce the pipeline's image, which proves the document (and the
 * manifest's stated conventions) are enough for an outside client.
 */
import * as ort from 'onnxruntime-node';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generate } from '../../models/pipeline/generate.ts';
import { openBundle } from '../../node/bundle.ts';
import { ROOT } from '../support/cli.ts';

const native = createRequire(import.meta.url)('tokenizers') as typeof import('tokenizers');

// --- Seeded noise: "xoshiro128ss-polar" -------------------------------------------------------------
function normals(seed: number, n: number): Float32Array {
  let z = seed >>> 0;
  const splitmix = () => {
    z = (z + 0x9e3779b9) >>> 0;
    let x = z;
    x = Math.imul(x ^ (x >>> 16), 0x21f0aaad) >>> 0;
    x = Math.imul(x ^ (x >>> 15), 0x735a2d97) >>> 0;
    return (x ^ (x >>> 15)) >>> 0;
  };
  let [a, b, c, d] = [splitmix(), splitmix(), splitmix(), splitmix()];
  const rotl = (x: number, k: number) => ((x << k) | (x >>> (32 - k))) >>> 0;
  const next = () => {
    const out = Math.imul(rotl(Math.imul(b, 5) >>> 0, 7), 9) >>> 0;
    const t = (b << 9) >>> 0;
    c = (c ^ a) >>> 0;
    d = (d ^ b) >>> 0;
    b = (b ^ c) >>> 0;
    a = (a ^ d) >>> 0;
    c = (c ^ t) >>> 0;
    d = rotl(d, 11);
    return out;
  };
  const uniform = () => ((next() >>> 5) * 2 ** 26 + (next() >>> 6)) / 2 ** 52 - 1;
  const ln = (s: number) => {
    let [m, e] = [s, 0];
    while (m < Math.SQRT1_2) [m, e] = [m * 2, e - 1];
    while (m >= Math.SQRT2) [m, e] = [m / 2, e + 1];
    const q = (m - 1) / (m + 1);
    let sum = 0;
    for (let k = 0; k < 12; k++) sum += q ** (2 * k + 1) / (2 * k + 1);
    return 2 * sum + e * Math.LN2;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; ) {
    const u = uniform();
    const v = uniform();
    const s = u * u + v * v;
    if (s >= 1 || s === 0) continue;
    const f = Math.sqrt((-2 * ln(s)) / s);
    out[i++] = u * f;
    if (i < n) out[i++] = v * f;
  }
  return out;
}

// --- Schedule ------------------------------------------------------------------------------------------
function alphaBars(s: { kind: string; trainSteps: number; betaStart: number; betaEnd: number; zeroTerminalSnr: boolean }): Float64Array {
  const T = s.trainSteps;
  if (s.kind !== 'scaled-linear') throw new Error(`this reader knows scaled-linear only, got ${s.kind}`);
  const betas = Array.from(
    { length: T },
    (_, i) => (Math.sqrt(s.betaStart) + ((Math.sqrt(s.betaEnd) - Math.sqrt(s.betaStart)) * i) / (T - 1)) ** 2,
  );
  let acc = 1;
  const sq = betas.map((b) => {
    acc *= 1 - b;
    return Math.sqrt(acc);
  });
  if (s.zeroTerminalSnr) {
    const [first, last] = [sq[0], sq[T - 1]];
    return Float64Array.from(sq, (v) => (((v - last) * first) / (first - last)) ** 2);
  }
  return Float64Array.from(sq, (v) => v * v);
}

describe('docs/bundle-format.md is enough to generate', () => {
  for (const [model, prompt, guidance] of [
    ['shapes', 'a large red circle', 1.5],
    ['emoji', 'red heart', 2],
  ] as const) {
    it(`${model}: an implementation from the document reproduces the pipeline's image to 1e-4`, { timeout: 120_000 }, async () => {
      const dir = join(ROOT, 'models/bundles', model);
      const m = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
      expect(m.schemaVersion).toBe(2);
      expect(m.diffusion.conventions).toEqual({
        timestepSpacing: 'trailing',
        timestepInput: 'index',
        unconditional: 'encoded-empty-prompt',
        guidance: 'uncond-cond-batch',
        alphaBarFloor: 2 ** -24,
        firstStep: 'first-order',
        finalStep: 'denoised',
        noise: 'xoshiro128ss-polar',
      });
      const session = (f: string) => ort.InferenceSession.create(join(dir, f));
      const [text, unet, decoder] = await Promise.all([
        session('text_encoder/model.onnx'),
        session('unet/model.onnx'),
        session('vae_decoder/model.onnx'),
      ]);
      const tok = native.Tokenizer.fromString(readFileSync(join(dir, 'tokenizer/tokenizer.json'), 'utf8'));
      const T = m.tokenizer.maxLength;
      const states = async (p: string) => {
        const ids = (await tok.encode(p)).getIds();
        const out = await text.run({ input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, T]) });
        return out.last_hidden_state.data as Float32Array;
      };
      const [cond, uncond] = [await states(prompt), await states('')];
      const D = cond.length / T;

      const steps = 12;
      const seed = 7;
      const { channels: C, size: h, scaleFactor, shiftFactor } = m.latent;
      const abar = alphaBars(m.diffusion.schedule);
      const T0 = m.diffusion.schedule.trainSteps;
      const ts = Array.from({ length: steps }, (_, k) => Math.round(T0 - (k * T0) / steps) - 1);
      const floor = (a: number) => Math.max(a, m.diffusion.conventions.alphaBarFloor);
      const lambda = (a: number) => 0.5 * Math.log(a / (1 - a));
      let x: Float32Array = normals(seed, C * h * h);
      let prevX0: Float64Array | undefined;
      let prevH = 0;
      for (let k = 0; k < steps; k++) {
        const both = await unet.run({
          sample: new ort.Tensor('float32', Float32Array.from([...x, ...x]), [2, C, h, h]),
          timestep: new ort.Tensor('float32', Float32Array.of(ts[k], ts[k]), [2]),
          encoder_hidden_states: new ort.Tensor('float32', Float32Array.from([...uncond, ...cond]), [2, T, D]),
        });
        const o = both.out_sample.data as Float32Array;
        const n = x.length;
        const out = Float32Array.from({ length: n }, (_, j) => o[n + j] + (guidance - 1) * (o[n + j] - o[j]));
        const a = floor(abar[ts[k]]);
        const aNext = floor(k + 1 < steps ? abar[ts[k + 1]] : 1);
        expect(m.diffusion.predictionType).toBe('v_prediction');
        const x0 = Float64Array.from(x, (xi, j) => Math.sqrt(a) * xi - Math.sqrt(1 - a) * out[j]);
        if (k === steps - 1) x = Float32Array.from(x0);
        else {
          const hStep = lambda(aNext) - lambda(a);
          const second = prevX0 !== undefined && prevH > 0 && hStep > 0;
          const r = prevH / hStep;
          x = Float32Array.from(x, (xi, j) => {
            const dd = second ? (1 + 1 / (2 * r)) * x0[j] - (1 / (2 * r)) * prevX0![j] : x0[j];
            return Math.sqrt((1 - aNext) / (1 - a)) * xi - Math.sqrt(aNext) * Math.expm1(-hStep) * dd;
          });
          prevH = hStep;
        }
        prevX0 = x0;
      }
      const z = Float32Array.from(x, (v) => v / scaleFactor + shiftFactor);
      const ours = (await decoder.run({ latent_sample: new ort.Tensor('float32', z, [1, C, h, h]) })).sample.data as Float32Array;

      // The project's pipeline, same prompt, seed, steps and guidance.
      const bundle = await openBundle(dir);
      const theirs = await generate(await bundle.runtime(), bundle.manifest, {
        cond: (await bundle.encodeText([prompt])).hidden,
        uncond: (await bundle.encodeText([''])).hidden,
        steps,
        guidance,
        sampler: 'dpmpp-2m',
        seed,
      });
      expect(ours.length).toBe(theirs.data.length);
      const maxDiff = ours.reduce((mx, v, i) => Math.max(mx, Math.abs(v - theirs.data[i])), 0);
      expect(maxDiff).toBeLessThan(1e-4);
    });
  }
});
