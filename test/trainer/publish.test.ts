import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fileKey, latestKey, manifestKey } from '../../models/bundle/keys.ts';
import { publishBundle } from '../../node/publish.ts';
import { localR2Store } from '../../node/publish-stores.ts';
import { runCli } from '../support/cli.ts';
import { fakeBundle, randomBytes } from '../support/fake-bundle.ts';

describe('publishing bundles to local R2', () => {
  const dirs: string[] = [];
  afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

  const bytesOf = async (body: { arrayBuffer(): Promise<ArrayBuffer> } | null) => new Uint8Array(await body!.arrayBuffer());

  it('files read back byte-identical; latest flips only after every file is present', async () => {
    const state = mkdtempSync(join(tmpdir(), 'state-'));
    dirs.push(state);
    const files = {
      'unet/model.onnx': randomBytes(300_000, 1),
      'vae_decoder/model.onnx': randomBytes(70_000, 2),
      'tokenizer/tokenizer.json': new TextEncoder().encode('{"a":1}'),
    };
    const v1 = await fakeBundle('toy', files, 'v1');
    const v2 = await fakeBundle('toy', { ...files, 'unet/model.onnx': randomBytes(300_000, 3) }, 'v2');
    dirs.push(v1.dir, v2.dir);

    const r2 = await localR2Store(state);
    try {
      await publishBundle(r2.store, v1.dir);
      expect(JSON.parse(await (await r2.bucket.get(latestKey('toy')))!.text())).toEqual({ version: 'v1' });

      // v2 differs in one file: an interruption after that upload must leave latest on v1.
      await expect(publishBundle(r2.store, v2.dir, { failAfter: 1 })).rejects.toThrow(/publish interrupted after 1 uploads/);
      expect(JSON.parse(await (await r2.bucket.get(latestKey('toy')))!.text())).toEqual({ version: 'v1' });
      expect(await r2.bucket.get(manifestKey('toy', 'v2'))).toBeNull();
      // Every v1 file is still complete and byte-identical.
      for (const [path, bytes] of Object.entries(files))
        expect(await bytesOf(await r2.bucket.get(fileKey('toy', 'v1', path)))).toEqual(bytes);

      await publishBundle(r2.store, v2.dir);
      expect(JSON.parse(await (await r2.bucket.get(latestKey('toy')))!.text())).toEqual({ version: 'v2' });
      for (const path of Object.keys(files)) {
        expect(await bytesOf(await r2.bucket.get(fileKey('toy', 'v2', path)))).toEqual(new Uint8Array(readFileSync(join(v2.dir, path))));
      }
      expect(await bytesOf(await r2.bucket.get(manifestKey('toy', 'v2')))).toEqual(
        new Uint8Array(readFileSync(join(v2.dir, 'manifest.json'))),
      );
    } finally {
      await r2.dispose();
    }

    // Persisted: a fresh Miniflare over the same state folder (as wrangler dev uses) sees the same objects.
    const again = await localR2Store(state);
    try {
      expect(await bytesOf(await again.bucket.get(fileKey('toy', 'v2', 'unet/model.onnx')))).toEqual(
        new Uint8Array(readFileSync(join(v2.dir, 'unet/model.onnx'))),
      );
    } finally {
      await again.dispose();
    }
  });

  it('a bundle whose file no longer matches its manifest is refused before anything moves', async () => {
    const state = mkdtempSync(join(tmpdir(), 'state-'));
    const b = await fakeBundle('toy', { 'unet/model.onnx': randomBytes(1000, 4) }, 'v9');
    dirs.push(state, b.dir);
    writeFileSync(join(b.dir, 'unet/model.onnx'), randomBytes(1000, 5));
    const r2 = await localR2Store(state);
    try {
      await expect(publishBundle(r2.store, b.dir)).rejects.toThrow(/unet\/model.onnx: file does not match the manifest/);
      expect(await r2.bucket.get(latestKey('toy'))).toBeNull();
    } finally {
      await r2.dispose();
    }
  });
});

describe('npm run publish', () => {
  it('says which edge it cannot reach, and why; bad arguments are one line, exit 2', async () => {
    // A loopback port that was just free: nothing listens there.
    const server = createServer().listen(0, '127.0.0.1');
    await once(server, 'listening');
    const { port } = server.address() as AddressInfo;
    server.close();
    const down = await runCli('trainer/publish-cli.ts', ['models/bundles/shapes', '--remote', `http://127.0.0.1:${port}`], {
      EDGE_PUBLISH_TOKEN: 'x',
    });
    expect(down.code).toBe(1);
    expect(down.output.trim()).toBe(`publish: cannot reach http://127.0.0.1:${port} (ECONNREFUSED)`);
    const missing = await runCli('trainer/publish-cli.ts', ['--remote', 'http://127.0.0.1:1']);
    expect(missing.code).toBe(2);
    expect(missing.output.trim()).toBe('publish: bundle-dir: is required; see --help');
    const notBundle = await runCli('trainer/publish-cli.ts', ['models']);
    expect(notBundle.code).toBe(2);
    expect(notBundle.output.trim()).toBe('publish: bundle-dir: models has no manifest.json');
    const help = await runCli('trainer/publish-cli.ts', ['--help']);
    expect(help.code).toBe(0);
    for (const flag of ['<bundle-dir>', '--remote', '--state']) expect(help.output).toContain(flag);
  });
});
