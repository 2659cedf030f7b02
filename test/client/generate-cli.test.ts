import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Miniflare } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseParameters, readPngText } from '../../models/png-text.ts';
import { decodeImage } from '../../node/png.ts';
import { ROOT, runCli } from '../support/cli.ts';
import { publishTo, startEdge } from '../support/edge.ts';
import { shippedImageSize } from '../support/shipped.ts';

const work = mkdtempSync(join(tmpdir(), 'generate-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));
const GEN = 'client/cli.ts';

describe('npm run generate (onnxruntime-node, the default emoji bundle)', () => {
  it('the same seed gives byte-identical PNGs; another seed a different image', async () => {
    const args = (seed: number, out: string) => [
      '--prompt',
      'grinning face',
      '--steps',
      '12',
      '--seed',
      String(seed),
      '--out',
      join(work, out),
    ];
    for (const [seed, out] of [
      [5, 'a.png'],
      [5, 'b.png'],
      [6, 'c.png'],
    ] as const) {
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
    const r = await runCli(GEN, [
      '--prompt',
      'blue heart',
      '--steps',
      '6',
      '--init',
      init,
      '--strength',
      '0.5',
      '--upscale',
      '--out',
      join(work, 'up.png'),
    ]);
    expect(r.code, r.output).toBe(0);
    expect(decodeImage(readFileSync(join(work, 'up.png'))).width).toBe(128);
    const bad = await runCli(GEN, ['--prompt', 'x', '--out', join(work, 'x.png'), '--sampler', 'plms']);
    expect(bad.code).toBe(2);
    expect(bad.output.trim()).toBe("generate: sampler: must be one of ddpm, ddim, dpmpp-2m, euler-a, got 'plms'");
    const strength = await runCli(GEN, ['--prompt', 'x', '--out', join(work, 'x.png'), '--init', init, '--strength', '2']);
    expect(strength.code).toBe(2);
    expect(strength.output.trim()).toBe("generate: strength: must be a number in [0, 1], got '2'");
  });

  it('every usage error is one line naming the flag, exit 2, before any work; -h lists every option', async () => {
    const x = join(work, 'never.png');
    const cases: [string[], string][] = [
      [['--prompt', 'x', '--out', '/missing/dir/a.png'], 'generate: out: folder /missing/dir does not exist'],
      [['--prompt', 'x', '--out', x, '--init', join(work, 'missing.png')], `generate: init: no such file: ${join(work, 'missing.png')}`],
      [['--prompt', 'x', '--out', x, '--strength', '0.5'], 'generate: strength: applies to img2img only; add --init IMAGE'],
      [['--prompt', 'x', '--out', x, '--rescale', '5'], "generate: rescale: must be a number in [0, 1], got '5'"],
      [
        ['--prompt', 'x', '--out', x, '--model', 'nope'],
        "generate: model: 'nope' is neither a bundle folder nor a shipped model (emoji, shapes)",
      ],
      [['--prompt', 'x', '--out', x, '--edge', 'not a url'], "generate: edge: 'not a url' is not a URL"],
      [['--prompt', 'x', '--out', x, '--edge', 'ftp://example.com'], "generate: edge: must be http(s), got 'ftp:'"],
      [['--prompt', 'x', '--out', x, '--edge', 'http://127.0.0.1:2'], 'generate: edge: cannot reach http://127.0.0.1:2 (ECONNREFUSED)'],
      [['--prompt', 'x', '--out', x, '--count', '0'], "generate: count: must be an integer in [1, 64], got '0'"],
      [['--prompt', 'x', '--out', x, '--bogus'], 'generate: bogus: unknown option; see npm run generate -- --help'],
      [['--prompt', 'x'], 'generate: out: is required; see --help'],
      [['--prompt'], 'generate: prompt: needs a value'],
    ];
    for (const [args, line] of cases) {
      const r = await runCli(GEN, args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.output.trim()).toBe(line);
    }
    expect(existsSync(x)).toBe(false);
    const help = await runCli(GEN, ['-h']);
    expect(help.code).toBe(0);
    for (const flag of [
      '--prompt',
      '--out',
      '--model',
      '--negative',
      '--steps',
      '--guidance',
      '--rescale',
      '--sampler',
      '--seed',
      '--count',
      '--init',
      '--strength',
      '--upscale',
      '--edge',
    ])
      expect(help.output).toContain(flag);
  });

  it('--model takes a shipped model by name; --count N writes N images with seeds S, S+1, …', async () => {
    const r = await runCli(GEN, [
      '--model',
      'shapes',
      '--prompt',
      'a large red circle',
      '--steps',
      '4',
      '--seed',
      '9',
      '--count',
      '2',
      '--out',
      join(work, 'c.png'),
    ]);
    expect(r.code, r.output).toBe(0);
    const [a, b] = ['c-9.png', 'c-10.png'].map((f) => readFileSync(join(work, f)));
    expect(decodeImage(a).width).toBe(shippedImageSize('shapes'));
    expect(a.equals(b)).toBe(false);
    const single = await runCli(GEN, [
      '--model',
      'shapes',
      '--prompt',
      'a large red circle',
      '--steps',
      '4',
      '--seed',
      '10',
      '--out',
      join(work, 'd.png'),
    ]);
    expect(single.code, single.output).toBe(0);
    expect(readFileSync(join(work, 'd.png')).equals(b)).toBe(true);
    // The PNG says how it was made, and generate reads it back from --init.
    const made = parseParameters(readPngText(b).parameters)!;
    expect(made).toMatchObject({
      prompt: 'a large red circle',
      negative: '',
      steps: 4,
      seed: 10,
      size: shippedImageSize('shapes'),
      sampler: 'dpmpp-2m',
    });
    expect(made.model).toMatch(/^shapes@/);
    const again = await runCli(GEN, [
      '--model',
      'shapes',
      '--init',
      join(work, 'd.png'),
      '--strength',
      '0.3',
      '--out',
      join(work, 'e.png'),
    ]);
    expect(again.code, again.output).toBe(0);
    expect(again.output).toContain(`the parameters of ${join(work, 'd.png')}: "a large red circle"`);
    expect(parseParameters(readPngText(readFileSync(join(work, 'e.png'))).parameters)).toMatchObject({
      prompt: 'a large red circle',
      steps: 4,
      strength: 0.3,
    });
  });
});

describe('npm run generate --edge (model files and prompt embeddings from a running edge)', () => {
  let mf: Miniflare;
  let edge: string;
  const cache = join(work, 'cache');
  const env = { EDGE_DIFFUSION_CACHE: cache };
  beforeAll(async () => {
    mf = await startEdge();
    await publishTo(mf, join(ROOT, 'models/bundles/shapes'));
    edge = (await mf.ready).toString().replace(/\/$/, '');
  });
  afterAll(() => mf?.dispose());

  it('gives the image of the local run for the same seed, downloads each file once and re-fetches a corrupt one', {
    timeout: 120_000,
  }, async () => {
    const args = (out: string) => [
      '--model',
      'shapes',
      '--prompt',
      'a small red circle',
      '--steps',
      '8',
      '--seed',
      '3',
      '--out',
      join(work, out),
    ];
    const first = await runCli(GEN, [...args('edge-1.png'), '--edge', edge], env);
    expect(first.code, first.output).toBe(0);
    expect(first.output.match(/edge: downloaded /g)).toHaveLength(4); // U-Net, VAE decoder and encoder, upscaler: never the text encoder
    const local = await runCli(GEN, args('local.png'));
    expect(local.code, local.output).toBe(0);
    // The same PNG, byte for byte, though the edge encodes the prompt with onnxruntime-web in workerd and the
    // local run with onnxruntime-node: their states agree far below what 8-bit pixels resolve.
    expect(readFileSync(join(work, 'edge-1.png')).equals(readFileSync(join(work, 'local.png')))).toBe(true);

    const again = await runCli(GEN, [...args('edge-2.png'), '--edge', edge], env);
    expect(again.code, again.output).toBe(0);
    expect(again.output).not.toContain('edge: downloaded');
    expect(readFileSync(join(work, 'edge-2.png')).equals(readFileSync(join(work, 'edge-1.png')))).toBe(true);

    const files = readdirSync(join(cache, 'sha256'));
    expect(files.every((f) => /^[0-9a-f]{64}$/.test(f))).toBe(true);
    writeFileSync(join(cache, 'sha256', files[0]), 'corrupt');
    const healed = await runCli(GEN, [...args('edge-3.png'), '--edge', edge], env);
    expect(healed.code, healed.output).toBe(0);
    expect(healed.output.match(/edge: downloaded /g)).toHaveLength(1);
    expect(readFileSync(join(work, 'edge-3.png')).equals(readFileSync(join(work, 'edge-1.png')))).toBe(true);
  });

  it('a model the edge does not serve and a prompt it rejects are one-line usage errors', async () => {
    const missing = await runCli(GEN, ['--edge', edge, '--model', 'nope', '--prompt', 'x', '--out', join(work, 'n.png')], env);
    expect([missing.code, missing.output.trim()]).toEqual([2, `generate: model: ${edge} serves no model 'nope'`]);
    const long = await runCli(
      GEN,
      ['--edge', edge, '--model', 'shapes', '--prompt', 'a small red circle '.repeat(20), '--out', join(work, 'n.png')],
      env,
    );
    expect(long.code).toBe(2);
    expect(long.output.trim()).toMatch(/^generate: prompt: .*tokens.*\(prompt_too_long\)$/);
    expect(existsSync(join(work, 'n.png'))).toBe(false);
  });
});
