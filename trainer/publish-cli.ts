import { InvalidArgumentError } from '../models/errors.ts';
import { parseOptions, runCli } from './cli-args.ts';
import { publishBundle } from './publish.ts';
import { localR2Store, remoteStore, DEFAULT_STATE_DIR } from './publish-stores.ts';

const USAGE = 'usage: npm run publish -- <bundle-dir> [--remote <edge-url>] [--state .state]   (remote token: $EDGE_PUBLISH_TOKEN)';

runCli('publish', async () => {
  const [dir, ...rest] = process.argv.slice(2);
  if (!dir || dir.startsWith('--')) throw new InvalidArgumentError('bundle-dir', `missing\n${USAGE}`);
  const opts = parseOptions(rest, [], ['remote', 'state']);
  const log = (l: string) => process.stderr.write(`${l}\n`);
  const remote = opts.get('remote');
  if (remote) {
    const token = process.env.EDGE_PUBLISH_TOKEN;
    if (!token) throw new InvalidArgumentError('EDGE_PUBLISH_TOKEN', 'set it to the edge publish secret');
    const m = await publishBundle(remoteStore(remote.replace(/\/$/, ''), token), dir, { log });
    log(`published ${m.name}@${m.version} to ${remote}`);
    return;
  }
  const local = await localR2Store(opts.get('state') ?? DEFAULT_STATE_DIR);
  try {
    const m = await publishBundle(local.store, dir, { log });
    log(`published ${m.name}@${m.version} to local R2 (${opts.get('state') ?? DEFAULT_STATE_DIR})`);
  } finally {
    await local.dispose();
  }
});
