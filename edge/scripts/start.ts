import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCli } from '../../node/cli-args.ts';
import { publishBundle } from '../../node/publish.ts';
import { DEFAULT_STATE_DIR, localR2Store } from '../../node/publish-stores.ts';
import { buildClient, ROOT, runWrangler } from './run.ts';

const BUNDLES = join(ROOT, 'models', 'bundles');

/**
 * `npm start`: publish the bundles shipped in models/bundles/ into local R2 (idempotent), make sure a local
 * publish token exists, then run `wrangler dev` on loopback with its state in .state/.
 */
runCli('start', async () => {
  await buildClient();
  const state = join(ROOT, DEFAULT_STATE_DIR);
  const local = await localR2Store(state);
  try {
    for (const name of existsSync(BUNDLES) ? readdirSync(BUNDLES) : []) {
      if (!existsSync(join(BUNDLES, name, 'manifest.json'))) continue;
      const m = await publishBundle(local.store, join(BUNDLES, name));
      process.stderr.write(`start: local R2 has ${m.name}@${m.version}\n`);
    }
  } finally {
    await local.dispose();
  }
  const devVars = join(ROOT, '.dev.vars');
  if (!existsSync(devVars)) {
    writeFileSync(devVars, `PUBLISH_TOKEN=${randomBytes(24).toString('hex')}\n`, { mode: 0o600 });
    process.stderr.write('start: wrote a local publish token to .dev.vars (git-ignored)\n');
  }
  const port = process.env.PORT ?? '8787';
  await runWrangler(['dev', '--ip', '127.0.0.1', '--port', port, '--persist-to', state, ...process.argv.slice(2)]);
});
