import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BUNDLE_FILES } from '../../models/bundle/manifest.ts';
import { openBundle } from '../../node/bundle.ts';
import { loadCheckpoint } from '../../trainer/checkpoint.ts';
import { loadFolderDataset } from '../../trainer/data/folder.ts';
import { encodePng } from '../../node/png.ts';
import { renderScene, generateScene, caption } from '../../trainer/data/shapes.ts';
import { runCli, startCli } from '../support/cli.ts';

const TRAIN = 'trainer/cli.ts';
const work = mkdtempSync(join(tmpdir(), 'train-cli-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const lossAt = (dir: string, stage: string, step: number) =>
  readFileSync(join(dir, stage, 'loss.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { step: number; loss: number })
    .filter((e) => e.step === step)
    .at(-1)?.loss;

describe('npm run train', () => {
  it('runs every stage of shapes-tiny end to end (steps capped) and produces a valid, verified bundle', async () => {
    const out = join(work, 'e2e');
    const r = await runCli(TRAIN, ['--preset', 'shapes-tiny', '--out', out, '--max-steps', '3']);
    expect(r.code, r.output).toBe(0);
    const bundle = await openBundle(join(out, 'bundle')); // parses the manifest schema and checks every SHA-256
    for (const f of Object.values(BUNDLE_FILES)) expect(bundle.manifest.files[f], f).toBeDefined();
    const m = bundle.manifest;
    expect(m.training.preset).toBe('shapes-tiny');
    expect(m.training.command).toContain('--preset shapes-tiny');
    expect(Object.keys(m.training.stages)).toEqual(expect.arrayContaining(['clip', 'vae', 'unet', 'upscaler']));
    for (const err of Object.values(m.exportCheck)) expect(err).toBeLessThan(1e-3);
    const metrics = JSON.parse(readFileSync(join(out, 'bundle', 'manifest.json'), 'utf8')).metrics;
    // The preset's scales [1, 2, 4, 7] and the bundle's default, which the eval always sweeps.
    expect(m.diffusion.defaults.guidance).toBe(1.5);
    expect(metrics.sweep.map((s: { guidance: number }) => s.guidance)).toEqual([1, 1.5, 2, 4, 7]);
    expect(metrics.composition.guidance).toBe(1.5);
    expect(metrics.composition.accuracy).toBe(metrics.sweep[1].accuracy);
    expect(metrics.composition.failures.heldOut).toBeDefined();
    expect(existsSync(join(out, 'eval', 'guidance-sweep.png'))).toBe(true);
    expect(existsSync(join(out, 'unet', 'loss.png'))).toBe(true);
    expect(existsSync(join(out, 'unet', 'samples-000003.png'))).toBe(true);
  });

  it('a run killed with SIGKILL after a checkpoint resumes to the same loss as an uninterrupted run', async () => {
    const args = ['--preset', 'shapes-tiny', '--max-steps', '8', '--checkpoint-every', '3'];
    const a = join(work, 'straight');
    const b = join(work, 'killed');
    expect((await runCli(TRAIN, [...args, '--out', a, '--stage', 'tokenizer,vae'])).code).toBe(0);
    expect((await runCli(TRAIN, [...args, '--out', b, '--stage', 'tokenizer'])).code).toBe(0);
    const child = startCli(TRAIN, [...args, '--out', b, '--stage', 'vae']);
    const ckpt = join(b, 'vae', 'checkpoint.bin');
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        if (existsSync(ckpt)) {
          clearInterval(timer);
          child.kill('SIGKILL');
          resolve();
        }
      }, 50);
      child.on('exit', () => {
        clearInterval(timer);
        reject(new Error(`finished before it could be killed:\n${child.output()}`));
      });
    });
    await new Promise((resolve) => child.on('exit', resolve));
    expect(child.signalCode).toBe('SIGKILL');
    const killedAfter = loadCheckpoint(ckpt)!.meta.wallSeconds as number;
    expect(killedAfter).toBeGreaterThan(0);
    const resumed = await runCli(TRAIN, [...args, '--out', b, '--stage', 'vae', '--resume']);
    expect(resumed.code, resumed.output).toBe(0);
    const from = Number(/resumed from step (\d+)/.exec(resumed.output)?.[1]);
    expect(from).toBeGreaterThanOrEqual(3);
    expect(from).toBeLessThan(8);
    const straight = lossAt(a, 'vae', 8)!;
    const again = lossAt(b, 'vae', 8)!;
    expect(Math.abs(again - straight) / straight).toBeLessThan(1e-6);
    // The stage's wall-clock counts the killed run's time too.
    expect(JSON.parse(readFileSync(join(b, 'vae', 'done.json'), 'utf8')).wallSeconds).toBeGreaterThan(killedAfter);
  });

  it('SIGTERM saves a checkpoint and exits with a one-line message', async () => {
    const out = join(work, 'term');
    const args = ['--preset', 'shapes-tiny', '--out', out, '--max-steps', '200'];
    expect((await runCli(TRAIN, [...args, '--stage', 'tokenizer'])).code).toBe(0);
    const child = startCli(TRAIN, [...args, '--stage', 'vae']);
    const exited = new Promise((resolve) => child.on('exit', resolve));
    await new Promise<void>((resolve) => {
      const timer = setInterval(() => {
        if (existsSync(join(out, 'vae', 'loss.jsonl'))) {
          clearInterval(timer);
          child.kill('SIGTERM');
          resolve();
        }
      }, 50);
    });
    expect(await exited).toBe(130);
    const step = Number(/interrupted by SIGTERM at step (\d+); checkpoint saved, continue with --resume/.exec(child.output())?.[1]);
    expect(step).toBeGreaterThan(0);
    expect(loadCheckpoint(join(out, 'vae', 'checkpoint.bin'))?.step).toBe(step);
  });

  it('the clip stage learns: zero-shot caption retrieval on held-out shapes well above chance', async () => {
    const out = join(work, 'clip');
    const r = await runCli(TRAIN, ['--preset', 'shapes-tiny', '--out', out, '--stage', 'tokenizer,clip', '--max-steps', '40']);
    expect(r.code, r.output).toBe(0);
    const { retrieval } = JSON.parse(readFileSync(join(out, 'clip', 'done.json'), 'utf8'));
    // Chance is 1/29 ≈ 3.4 % for the 29 distinct held-out captions; 40 steps reach 40–60 % here.
    expect(retrieval.candidates).toBeGreaterThan(20);
    expect(retrieval.accuracy).toBeGreaterThan(5 * retrieval.chance);
  });

  it('folder source: broken images, missing captions and odd sizes are skipped and counted; the run completes', async () => {
    const dir = join(work, 'folder');
    mkdirSync(dir, { recursive: true });
    const meta: string[] = [];
    for (let i = 0; i < 12; i++) {
      const scene = generateScene(7, i, { maxObjects: 1 });
      writeFileSync(join(dir, `img${i}.png`), encodePng(renderScene(scene, 32)));
      if (i % 2) writeFileSync(join(dir, `img${i}.txt`), caption(scene));
      else meta.push(JSON.stringify({ file_name: `img${i}.png`, text: caption(scene) }));
    }
    writeFileSync(join(dir, 'big.png'), encodePng(renderScene(generateScene(7, 99, { maxObjects: 1 }), 64)));
    writeFileSync(join(dir, 'big.txt'), 'a big picture');
    writeFileSync(join(dir, 'broken.png'), new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]));
    writeFileSync(join(dir, 'broken.txt'), 'never read');
    writeFileSync(join(dir, 'nocaption.png'), encodePng(renderScene(generateScene(7, 50, { maxObjects: 1 }), 32)));
    writeFileSync(join(dir, 'wide.jpg'), new Uint8Array([0xff, 0xd8, 0xff, 0]));
    writeFileSync(join(dir, 'wide.txt'), 'corrupt jpeg');
    writeFileSync(join(dir, 'small.png'), encodePng(renderScene(generateScene(7, 51, { maxObjects: 1 }), 16)));
    writeFileSync(join(dir, 'small.txt'), 'too small');
    writeFileSync(join(dir, 'metadata.jsonl'), `${meta.join('\n')}\nnot json\n`);

    const ds = loadFolderDataset(dir, 32);
    expect(ds.samples.length).toBe(13);
    expect(ds.skipped).toEqual({
      'unreadable image': 2,
      'missing caption': 1,
      'odd size (not square or smaller than the training size)': 1,
      'bad metadata.jsonl line': 1,
    });
    expect(ds.samples.find((s) => s.caption === 'a big picture')!.image.width).toBe(32);

    const r = await runCli(TRAIN, [
      '--preset',
      'shapes-tiny',
      '--data',
      dir,
      '--out',
      join(work, 'folder-run'),
      '--stage',
      'tokenizer,clip,vae',
      '--max-steps',
      '2',
    ]);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toMatch(/warning: skipped 2 file\(s\) .*: unreadable image/);
  });

  it('bad arguments: one line, non-zero exit, no stack trace', async () => {
    const unknown = await runCli(TRAIN, ['--preset', 'nope', '--out', join(work, 'x')]);
    expect(unknown.code).toBe(2);
    expect(unknown.output.trim()).toBe("train: preset: unknown preset 'nope'; choose one of emoji, shapes, shapes-tiny");
    const stage = await runCli(TRAIN, ['--preset', 'shapes-tiny', '--out', join(work, 'x'), '--stage', 'vae,paint']);
    expect(stage.code).toBe(2);
    expect(stage.output).toContain("stage: unknown stage 'paint'");
    const missing = await runCli(TRAIN, ['--preset', 'shapes-tiny']);
    expect(missing.code).toBe(2);
    expect(missing.output.trim()).toBe('train: out: is required; see --help');
    expect(missing.output).not.toMatch(/at .*\.ts:\d+/);
    const empty = mkdtempSync(join(work, 'empty-'));
    const noData = await runCli(TRAIN, ['--preset', 'shapes-tiny', '--out', join(work, 'y'), '--data', empty]);
    expect(noData.code).toBe(2);
    expect(noData.output.trim()).toBe(`train: data: no usable image–caption pairs in ${empty} (see the folder format in the README)`);
    expect(existsSync(join(work, 'y'))).toBe(false);
    const help = await runCli(TRAIN, ['-h']);
    expect(help.code).toBe(0);
    for (const flag of [
      '--preset',
      '--out',
      '--stage',
      '--seed',
      '--resume',
      '--max-steps',
      '--checkpoint-every',
      '--backend',
      '--threads',
      '--fp16',
      '--data',
    ])
      expect(help.output).toContain(flag);
  });
});
