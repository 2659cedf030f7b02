import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BUNDLE_FILES, bundleVersion, parseManifest, sha256Hex } from '../models/bundle/manifest.ts';
import { InvalidArgumentError } from '../models/errors.ts';
import { selfContainedTokenizerJson } from '../models/text/tokenizer-json.ts';
import { loadTokenizer } from '../models/text/tokenizer.ts';
import { growEmbedding } from '../models/onnx/grow-embedding.ts';
import { parseCli, runCli, type CliSpec } from '../node/cli-args.ts';

const SPEC: CliSpec = {
  name: 'upgrade-bundle',
  summary:
    "Bring a bundle's non-network files to the current format in place (the trained networks are untouched): manifest schema 2 (sampling conventions stated) and the self-contained tokenizer.json. The version (a content hash of the files) changes with the tokenizer.",
  positionals: [{ name: 'bundle-dir', description: 'the bundle folder (with manifest.json)' }],
  options: {
    'complete-alphabet': {
      type: 'boolean',
      description:
        'also give the tokenizer every byte it lacks (after the existing ids) and the text encoder a zero embedding row for each, so no character is dropped or refused',
    },
  },
  examples: ['npm run upgrade-bundle -- models/bundles/shapes', 'npm run upgrade-bundle -- models/bundles/emoji --complete-alphabet'],
};

runCli('upgrade-bundle', async () => {
  const o = parseCli(SPEC, process.argv.slice(2));
  const [dir, extra] = o.positionals;
  if (extra !== undefined) throw new InvalidArgumentError('arguments', `unexpected '${extra}'`);
  if (dir === undefined || !existsSync(join(dir, 'manifest.json')))
    throw new InvalidArgumentError('bundle-dir', `${dir} has no manifest.json`);
  const manifest = parseManifest(JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')));
  const completeAlphabet = o.has('complete-alphabet');
  const tokenizer = selfContainedTokenizerJson(
    JSON.parse(readFileSync(join(dir, BUNDLE_FILES.tokenizer), 'utf8')),
    manifest.tokenizer.maxLength,
    { completeAlphabet },
  );
  const rewrite = async (file: string, bytes: Uint8Array) => {
    writeFileSync(join(dir, file), bytes);
    manifest.files[file] = { sha256: await sha256Hex(bytes), size: bytes.length };
  };
  await rewrite(BUNDLE_FILES.tokenizer, new TextEncoder().encode(JSON.stringify(tokenizer)));
  const vocabSize = loadTokenizer(tokenizer, manifest.tokenizer.maxLength).vocabSize;
  const added = vocabSize - manifest.tokenizer.vocabSize;
  if (added > 0) {
    const encoder = join(dir, BUNDLE_FILES.textEncoder);
    await rewrite(BUNDLE_FILES.textEncoder, growEmbedding(new Uint8Array(readFileSync(encoder)), 'token_embedding.weight', added));
    manifest.tokenizer.vocabSize = vocabSize;
    manifest.networks.textEncoder.vocabSize = vocabSize;
    process.stderr.write(`upgrade-bundle: ${added} byte tokens added (zero embedding rows)\n`);
  }
  const before = manifest.version;
  manifest.version = await bundleVersion(manifest.files);
  // parseManifest filled in schema 1's implicit conventions; the file now states them.
  manifest.schemaVersion = 2;
  writeFileSync(join(dir, 'manifest.json'), JSON.stringify(parseManifest(manifest), null, 2));
  process.stderr.write(
    `upgrade-bundle: ${manifest.name}@${before} → @${manifest.version} (manifest schema 2, self-contained tokenizer.json)\n`,
  );
});
