import { describe, expect, it } from 'vitest';
import { createRng } from '../../models/diffusion/rng.ts';
import type { Ops } from '../../models/nn/ops.ts';
import type { StoredTensor } from '../../trainer/checkpoint.ts';
import type { Objective } from '../../trainer/objective.ts';
import { createOrtEngine } from '../../trainer/ort/engine.ts';

/**
 * Every vector-Jacobian rule of the ONNX training graph against a central finite difference: the analytic
 * gradient's projection on a random direction d equals (L(p + εd) − L(p − εd)) / 2ε for
 * L = mean(y² + 0.7·y), y the op's output on random parameters.
 */
/** `eps`: the finite-difference step; `tol`: the allowed error relative to max(1, |numeric|). */
type Case = [string, <T>(ops: Ops<T>, ids: T) => T, { eps?: number; tol?: number }?];
// Smooth elementwise rules must agree to 1e-4: a 1 % error in one term of GELU's slope moves the directional
// derivative by ≈ 6e-4, which 2e-3 let through. Convolutions and division sum float32 products whose rounding
// alone leaves 2–3e-4.
const LOOSE = { tol: 1e-3 };

const image = <T>(ops: Ops<T>, name: string, n: number, h: number, w: number, c: number) =>
  ops.tokensToImage(ops.param(name, [n, h * w, c], { kind: 'normal', std: 1 }), h, w);
const p = <T>(ops: Ops<T>, name: string, shape: number[], std = 1) => ops.param(name, shape, { kind: 'normal', std });
const positive = <T>(ops: Ops<T>, name: string, shape: number[]) => ops.addScalar(ops.mul(p(ops, name, shape), p(ops, name, shape)), 0.5);

const CASES: Case[] = [
  ['add (broadcast)', (o) => o.add(p(o, 'a', [2, 3, 4]), p(o, 'b', [4]))],
  ['sub (broadcast)', (o) => o.sub(p(o, 'a', [2, 3, 1]), p(o, 'b', [2, 1, 4]))],
  ['mul (broadcast)', (o) => o.mul(p(o, 'a', [2, 3, 4]), p(o, 'b', [3, 1]))],
  ['div', (o) => o.div(p(o, 'a', [2, 5]), positive(o, 'b', [5])), LOOSE],
  ['scale, addScalar', (o) => o.addScalar(o.scale(p(o, 'a', [3, 4]), -1.7), 0.3)],
  ['sigmoid', (o) => o.sigmoid(p(o, 'a', [3, 4]))],
  ['tanh', (o) => o.tanh(p(o, 'a', [3, 4]))],
  ['silu', (o) => o.silu(p(o, 'a', [3, 4], 2))],
  ['gelu', (o) => o.gelu(p(o, 'a', [3, 4], 2))],
  ['sin, cos', (o) => o.add(o.sin(p(o, 'a', [3, 4])), o.cos(p(o, 'b', [3, 4])))],
  ['exp', (o) => o.exp(p(o, 'a', [3, 4], 0.5))],
  ['sqrt', (o) => o.sqrt(positive(o, 'a', [3, 4]))],
  ['abs', (o) => o.abs(p(o, 'a', [3, 4]))],
  // A small step: a random direction of size ε must not carry values across the clip's kinks.
  ['clip', (o) => o.clip(p(o, 'a', [4, 6]), -0.5, 0.7), { eps: 1e-3 }],
  ['linear', (o) => o.linear(p(o, 'x', [2, 3, 5]), p(o, 'w', [5, 4]), p(o, 'b', [4]))],
  ['matmul', (o) => o.matmul(p(o, 'a', [2, 3, 4, 5]), p(o, 'b', [2, 3, 5, 2]))],
  ['matmul, transposed b', (o) => o.matmul(p(o, 'a', [2, 3, 4, 5]), p(o, 'b', [2, 3, 6, 5]), true)],
  ['softmax', (o) => o.softmax(p(o, 'a', [3, 5], 2))],
  ['logSoftmax', (o) => o.logSoftmax(p(o, 'a', [3, 5], 2))],
  ['layerNorm', (o) => o.layerNorm(p(o, 'x', [2, 3, 8]), p(o, 'g', [8]), p(o, 'b', [8]), 1e-5)],
  ['sum', (o) => o.sum(p(o, 'a', [2, 3, 4]), 1)],
  ['meanAll', (o) => o.meanAll(p(o, 'a', [2, 3, 4]))],
  ['reshape, transpose', (o) => o.transpose(o.reshape(p(o, 'a', [2, 12]), [3, 4]), [0, 2, 1])],
  ['concat', (o) => o.concat([p(o, 'a', [2, 3, 4]), p(o, 'b', [2, 2, 4])], 1)],
  ['concat of images (channels)', (o) => o.concat([image(o, 'a', 2, 4, 4, 3), image(o, 'b', 2, 4, 4, 2)], 3)],
  ['selectIndex', (o) => o.selectIndex(p(o, 'a', [2, 5, 3]), 2)],
  [
    'conv2d 3×3 same, ≥256 positions',
    (o) => o.conv2d(image(o, 'x', 1, 16, 16, 3), p(o, 'w', [3, 3, 3, 4], 0.3), p(o, 'b', [4]), { pad: [1, 1, 1, 1] }),
    LOOSE,
  ],
  [
    'conv2d 3×3 same, small map',
    (o) => o.conv2d(image(o, 'x', 2, 6, 6, 3), p(o, 'w', [3, 3, 3, 4], 0.3), p(o, 'b', [4]), { pad: [1, 1, 1, 1] }),
    LOOSE,
  ],
  [
    'conv2d 3×3 stride 2, asymmetric pad',
    (o) => o.conv2d(image(o, 'x', 2, 8, 8, 3), p(o, 'w', [3, 3, 3, 4], 0.3), undefined, { stride: 2, pad: [0, 1, 0, 1] }),
  ],
  ['conv2d 1×1', (o) => o.conv2d(image(o, 'x', 2, 5, 5, 3), p(o, 'w', [1, 1, 3, 4], 0.5), p(o, 'b', [4]), { pad: [0, 0, 0, 0] }), LOOSE],
  ['conv2d 5×5 valid', (o) => o.conv2d(image(o, 'x', 1, 9, 9, 2), p(o, 'w', [5, 5, 2, 3], 0.2), undefined, { pad: [0, 0, 0, 0] }), LOOSE],
  // 16 channels, batch 16: whole NCHWc blocks (8 or 16), so on x86-64 the forward, input-gradient and filter-gradient
  // convs all run on the blocked kernels, the filter gradient in its conv form (dilated by the stride, cropped).
  [
    'conv2d 3×3 same, blocked',
    (o) => o.conv2d(image(o, 'x', 16, 5, 5, 16), p(o, 'w', [3, 3, 16, 16], 0.2), p(o, 'b', [16]), { pad: [1, 1, 1, 1] }),
    LOOSE,
  ],
  [
    'conv2d 3×3 stride 2, blocked',
    (o) => o.conv2d(image(o, 'x', 16, 7, 7, 16), p(o, 'w', [3, 3, 16, 16], 0.2), undefined, { stride: 2, pad: [0, 1, 0, 1] }),
    LOOSE,
  ],
  ['groupNorm', (o) => o.groupNorm(image(o, 'x', 2, 4, 4, 8), 2, p(o, 'g', [8]), p(o, 'b', [8]), 1e-5)],
  ['upsample2x', (o) => o.upsample2x(image(o, 'x', 2, 3, 3, 2))],
  ['globalAvgPool', (o) => o.globalAvgPool(image(o, 'x', 2, 3, 3, 4))],
  ['addChannelVector', (o) => o.addChannelVector(image(o, 'x', 2, 3, 3, 4), p(o, 'v', [2, 4]))],
  ['imageToTokens', (o) => o.imageToTokens(image(o, 'x', 2, 3, 2, 4))],
  ['embedding (repeated ids)', (o, ids) => o.embedding(ids, p(o, 'table', [5, 4]))],
];

function objective(f: Case[1]): Objective {
  return {
    name: 'vjp',
    inputs: { ids: { shape: [2, 3], dtype: 'int32' } },
    loss<T>(net: (n: string) => Ops<T>, x: Record<string, T>) {
      const ops = net('op');
      const y = f(ops, x.ids);
      return ops.meanAll(ops.add(ops.mul(y, y), ops.scale(y, 0.7)));
    },
    batch: () => ({ ids: Int32Array.of(0, 3, 3, 1, 4, 0) }),
  };
}

describe('each VJP rule of the training graph matches a central finite difference', () => {
  for (const [name, f, { eps = 1e-2, tol = 1e-4 } = {}] of CASES) {
    it(name, async () => {
      const engine = await createOrtEngine(objective(f), { seed: 3, weightDecay: 0, clipNorm: 1e9 }, { exposeGradients: true, threads: 1 });
      const base = engine.checkpointTensors();
      const set = (shift: number, d: Map<string, Float32Array>) => {
        const t = new Map<string, StoredTensor>();
        for (const [k, v] of base)
          t.set(k, k.startsWith('param:') ? { shape: v.shape, data: v.data.map((x, i) => x + shift * d.get(k)![i]) } : v);
        engine.restore(t, 'test');
      };
      const rng = createRng(11);
      const direction = new Map([...base].filter(([k]) => k.startsWith('param:')).map(([k, v]) => [k, rng.fill(v.data.length)]));
      set(0, direction);
      await engine.step(0, 0);
      let analytic = 0;
      for (const spec of engine.params) {
        const g = engine.gradient(spec.key);
        const d = direction.get(`param:${spec.key}`)!;
        for (let i = 0; i < g.length; i++) analytic += g[i] * d[i];
      }
      set(eps, direction);
      const up = await engine.step(0, 0);
      set(-eps, direction);
      const down = await engine.step(0, 0);
      const numeric = (up - down) / (2 * eps);
      expect(Math.abs(analytic - numeric), `analytic ${analytic}, numeric ${numeric}`).toBeLessThan(tol * Math.max(1, Math.abs(numeric)));
      engine.dispose();
    });
  }
});
