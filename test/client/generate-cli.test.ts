import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeImage } from '../../trainer/data/png.ts';
import { runCli } from '../support/cli.ts';

const work = mkdtempSync(join(tmpdir(), 'generate-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const GEN = 'client/cli.ts';

describe('npm run generate (onnxruntime-node, the default emoji bundle)', () => {
  it('the same seed gives byte-identical PNGs; another seed a different image', async () => {
    const args = (seed: number, out: string) => ['--prompt', 'grinning face', '--steps', '12', '--seed', String(seed), '--out', join(work, out)];
    for (const [seed, out] of [[5, 'a.png'], [5, 'b.png'], [6, 'c.png']] as const) {
      const r = await runCli(GEN, args(seed, out));
      expect(r.code, r.output).toBe(0);
      expect(r.output).toMatch(/ms\/step, onnxruntime-node/);
    }
    const [a, b, c] = ['a.png', 'b.png', 'c.png'].map((f) => readFileSync(join(work, f)));
    expect(a.equals(b)).toBe(true);
    expect(a.equals(c)).toBe(false);
    const img = decodeImage(a);
    expect(img.width).toBe(64);
    // Not blank: some pixels far from white.
    let ink = 0;
    for (let i = 0; i < img.data.length; i += 3) if (img.data[i] + img.data[i + 1] + img.data[i + 2] < 1.5) ink++;
    expect(ink).toBeGreaterThan(20);
  });

  it('img2img and the 2× upscaler run; bad input is a one-line error', async () => {
    const init = join(work, 'init.png');
    expect((await runCli(GEN, ['--prompt', 'red heart', '--steps', '6', '--out', init])).code).toBe(0);
    const r = await runCli(GEN, ['--prompt', 'blue heart', '--steps', '6', '--init', init, '--strength', '0.5', '--upscale', '--out', join(work, 'up.png')]);
    expect(r.code, r.output).toBe(0);
    expect(decodeImage(readFileSync(join(work, 'up.png'))).width).toBe(128);
    const bad = await runCli(GEN, ['--prompt', 'x', '--out', join(work, 'x.png'), '--sampler', 'plms']);
    expect(bad.code).toBe(2);
    expect(bad.output.trim()).toBe("generate: sampler: must be one of ddpm, ddim, dpmpp-2m, euler-a, got 'plms'");
    const strength = await runCli(GEN, ['--prompt', 'x', '--out', join(work, 'x.png'), '--init', init, '--strength', '2']);
    expect(strength.code).toBe(2);
    expect(strength.output).toContain('strength: must be a number in [0, 1], got 2');
  });
});
