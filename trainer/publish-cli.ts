import { InvalidArgumentError } from '../models/errors.ts';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { parseCli, runCli, type CliSpec } from '../node/cli-args.ts';
import { publishBundle } from '../node/publish.ts';
import { localR2Store, remoteStore, DEFAULT_STATE_DIR } from '../node/publish-stores.ts';

const SPEC: CliSpec = {
  name: 'publish',
  summary: "Upload a bundle under immutable, content-addressed keys, then switch the model's latest pointer.",
  positionals: [{ name: 'bundle-dir', description: 'the bundle folder (its manifest.json and files)' }],
  options: {
    remote: {
      type: 'string',
      value: 'URL',
      description: "an edge's publish API (token in $EDGE_PUBLISH_TOKEN)",
      default: 'local R2 for npm start',
    },
    state: { type: 'string', value: 'DIR', description: "local R2's state folder", default: DEFAULT_STATE_DIR },
  },
  examples: [
    'npm run publish -- runs/emoji/bundle',
    'EDGE_PUBLISH_TOKEN=… npm run publish -- runs/emoji/bundle --remote https://edge.example.com',
  ],
};

runCli('publish', async () => {
  const opts = parseCli(SPEC, process.argv.slice(2));
  const [dir, extra] = opts.positionals;
  if (!dir) throw new InvalidArgumentError('bundle-dir', 'is required; see --help');
  if (extra !== undefined) throw new InvalidArgumentError('arguments', `unexpected '${extra}'; one bundle folder at a time`);
  if (!existsSync(join(dir, 'manifest.json'))) throw new InvalidArgumentError('bundle-dir', `${dir} has no manifest.json`);
  const log = (l: string) => process.stderr.write(`${l}\n`);
  const remote = opts.str('remote');
  if (remote) {
    const token = process.env.EDGE_PUBLISH_TOKEN;
    if (!token) throw new InvalidArgumentError('EDGE_PUBLISH_TOKEN', 'set it to the edge publish secret');
    const m = await publishBundle(remoteStore(remote.replace(/\/$/, ''), token), dir, { log });
    log(`published ${m.name}@${m.version} to ${remote}`);
    return;
  }
  const local = await localR2Store(opts.str('state') ?? DEFAULT_STATE_DIR);
  try {
    const m = await publishBundle(local.store, dir, { log });
    log(`published ${m.name}@${m.version} to local R2 (${opts.str('state') ?? DEFAULT_STATE_DIR})`);
  } finally {
    await local.dispose();
  }
});
