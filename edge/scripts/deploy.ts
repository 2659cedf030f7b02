import { runCli } from '../../node/cli-args.ts';
import { buildClient, runWrangler } from './run.ts';

/**
 * `npm run deploy [-- wrangler deploy options]`: build the page into client/dist (the worker's static
 * assets), then `wrangler deploy`. On the first deploy wrangler creates the KV namespace and the R2 bucket
 * named in wrangler.toml. `npm run deploy -- --dry-run` builds everything and uploads nothing.
 */
runCli('deploy', async () => {
  await buildClient();
  await runWrangler(['deploy', ...process.argv.slice(2)]);
});
