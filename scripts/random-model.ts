/**
 * `npx tsx scripts/random-model.ts --out artifacts/random --key-file .keys/model-signing.key [--version random-v1] [--seed 1]`
 *
 * A deliberately bad model for trying experiments: the bundled model's items (ids, titles,
 * popularity, prices) with random item factors, no item model and no users, signed like any
 * origin model. It serves every endpoint, and its rankings are noise, so an A/B test of it against
 * the bundled model (and the shopper simulation, scripts/simulate-shoppers.ts) has a known loser.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { decodeItemFields } from '@edge-recs/core/item-fields';
import { catalogParts, FILES, type Manifest } from '@edge-recs/core/manifest';
import { Command } from 'commander';
import { type BuiltArtifact, buildArtifact } from '../model/artifact';
import { writeArtifactDir } from '../model/artifact-fs';
import { readCatalog } from '../model/catalog';
import { Rng } from '../model/rng';

const BUNDLED = 'default-model';
const DIMS = 8;

/** The random-factor model over the bundled model's items (see the header). */
export async function randomModel(opts: { version: string; signingKey: string; seed?: number; createdAt?: Date }): Promise<BuiltArtifact> {
  const manifest = JSON.parse(await readFile(join(BUNDLED, 'manifest.json'), 'utf8')) as Manifest;
  const files: Record<string, Uint8Array> = {};
  for (const name of [
    FILES.itemIds,
    FILES.popular,
    ...Array.from({ length: catalogParts(manifest.itemCount) }, (_, p) => FILES.catalogPart(p)),
  ])
    files[name] = new Uint8Array(await readFile(join(BUNDLED, name)));
  const catalog = readCatalog(files);
  const n = catalog.ids.length;
  const fieldBytes = await readFile(join(BUNDLED, FILES.itemFields));
  const fields = decodeItemFields(fieldBytes.buffer.slice(fieldBytes.byteOffset, fieldBytes.byteOffset + fieldBytes.byteLength), n);
  const rng = new Rng(opts.seed ?? 1);
  const itemFactors = Float32Array.from({ length: n * DIMS }, () => 0.1 * rng.normal());
  return buildArtifact({
    version: opts.version,
    createdAt: opts.createdAt ?? new Date(),
    algorithm: 'random',
    hyperparameters: { factors: DIMS, seed: opts.seed ?? 1 },
    foldIn: manifest.foldIn,
    data: { ...manifest.data, users: 0, interactions: 0 },
    dims: DIMS,
    itemIds: catalog.ids,
    titles: catalog.titles,
    itemCounts: catalog.counts,
    itemFactors,
    itemWeights: new Float32Array(n).fill(1),
    userIds: [],
    userFactors: new Float32Array(0),
    userItems: { rows: 0, cols: n, rowPtr: new Int32Array(1), colIdx: new Int32Array(0), values: new Float32Array(0) },
    signingKey: opts.signingKey,
    fields: {
      price: fields.price,
      category: Array.from(fields.category, (c) => (c === 0 ? '' : fields.categories[c - 1])),
      available: Array.from(fields.available, (a) => (a === 2 ? undefined : a === 1)),
      imageUrl: new Array(n).fill(''),
    },
  });
}

async function main(argv: string[]): Promise<void> {
  const o = new Command('random-model')
    .description("A signed model with random factors over the bundled model's items (a known loser for experiments)")
    .requiredOption('--out <dir>', 'artifact directory to write')
    .option('--key-file <path>', 'Ed25519 signing key (npm run keygen)', '.keys/model-signing.key')
    .option('--version <id>', 'version id', 'random-v1')
    .option('--seed <n>', 'seed of the factors', '1')
    .parse(argv)
    .opts<{ out: string; keyFile: string; version: string; seed: string }>();
  const signingKey = process.env.MODEL_SIGNING_KEY ?? (await readFile(o.keyFile, 'utf8')).trim();
  const built = await randomModel({ version: o.version, signingKey, seed: Number(o.seed) });
  await writeArtifactDir(o.out, built);
  console.log(
    `wrote ${o.version} (${built.manifest.itemCount} items × ${DIMS} random dims) to ${o.out}; publish it with npm run publish -- --from ${o.out}`,
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href)
  main(process.argv).catch((err) => {
    console.error(err instanceof Error ? err.message : String(err));
    process.exitCode = 1;
  });
