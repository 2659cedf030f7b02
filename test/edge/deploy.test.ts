import { existsSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLIENT_DIST } from '../../client/build.ts';
import { ORT_WASM } from '../../client/src/ort-files.ts';
import { ROOT, runCli } from '../support/cli.ts';

describe('npm run deploy', () => {
  it('builds the page before wrangler deploys it, with no account-specific ids and observability on', { timeout: 120_000 }, async () => {
    const out = mkdtempSync(join(tmpdir(), 'deploy-'));
    const r = await runCli('edge/scripts/deploy.ts', ['--dry-run', '--outdir', out]);
    expect(r.code, r.output).toBe(0);
    expect(r.output).toContain('client built into');
    expect(r.output).toMatch(/Total Upload: [\d.]+ KiB \/ gzip: [\d.]+ KiB/);
    expect(r.output).toContain('env.EMBEDDINGS');
    // The static assets wrangler uploads: the page, its worker and both onnxruntime-web runtimes.
    for (const f of ['index.html', 'main.js', 'worker.js', '_headers', `ort/${ORT_WASM.wasm}`, `ort/${ORT_WASM.webgpu}`, 'ort/sizes.json'])
      expect(existsSync(join(CLIENT_DIST, f)), f).toBe(true);
    expect(statSync(join(out, 'index.js')).size).toBeGreaterThan(0);
    const toml = readFileSync(join(ROOT, 'wrangler.toml'), 'utf8');
    expect(toml).toMatch(/\[observability\]\s*\nenabled = true/);
    expect(toml).not.toMatch(/^id\s*=/m); // provisioned on the first deploy
  });

  it('fails with the message of wrangler and a non-zero exit code when wrangler fails', { timeout: 120_000 }, async () => {
    const r = await runCli('edge/scripts/deploy.ts', ['--dry-run', '--bogus-flag']);
    expect(r.code).toBe(1);
    expect(r.output).toMatch(/Unknown arguments?: bogus-flag/);
    expect(r.output).toContain('deploy: wrangler deploy exited with 1');
  });
});
