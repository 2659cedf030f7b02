import { buildClient } from '../../client/build.ts';
import { runCli } from '../../trainer/cli-args.ts';
import { runWrangler } from './wrangler.ts';

/**
 * `npm run deploy [-- wrangler deploy options]`: build the page into client/dist (the worker's static
 * assets), then `wrangler deploy`. On the first deploy wrangler creates the KV namespace and the R2 bucket
 * named in wrangler.toml. `npm run deploy -- --dry-run` builds everything and uploads nothing.
 */
runCli('deploy', async () => {
  process.stderr.write(`deploy: client built into ${await buildClient()}\n`);
  await runWrangler(['deploy', ...process.argv.slice(2)]);
});
