/**
 * `npm run import-spark -- --users <dir> --items <dir> --out <dir> [--interactions <csv>] [--titles <csv>]
 *    [--neighbours <dir> [--bought-together <dir>] [--neighbours-top N] [--neighbours-weights int8|float16]
 *     [--factor-weight a] [--allow-unknown-ids]]`
 *
 * Packages factors trained by Spark MLlib ALS (implicitPrefs = true) into the same signed artifact
 * the edge serves: for teams whose data outgrows one machine, train on Spark, serve here.
 * Input: `model.userFactors.write.json(dir)` / `model.itemFactors.write.json(dir)`, i.e. JSON lines
 * {"id": …, "features": [...]} in part files (optionally gzipped). The fold-in constants follow
 * MLlib's implicit formulation: c = 1 + alpha·r (linear), unobserved weight 1, λ_u = regParam·n_u.
 * Pass the same --alpha and --reg-param you trained with. --interactions (the generic CSV) supplies
 * item popularity and user histories; without it popularity follows the item order.
 *
 * --neighbours adds the item model (the neighbour lists the edge blends with the factor scores)
 * from a distributed job, and --bought-together its "bought together" lists, both as JSON lines
 * in part files, one line per item:
 *   {"item": "<id>", "neighbours": [{"id": "<id>", "weight": w}, ...]}
 * — Spark's `RowMatrix.columnSimilarities()` after a join back to ids, the transposed entries
 * added, and a top N per item (model/import-neighbours.ts has the recipe and every rule). Weights
 * ≤ 0 and self-references are dropped, each list is sorted by weight and cut to --neighbours-top
 * (default: the trainer's N), and stored quantised as the trainer stores its own; ids that are not
 * among the item factors fail the import with a count (--allow-unknown-ids drops them instead).
 * The blend uses --factor-weight a (default: the trainer's) and factor statistics computed from
 * the imported item factors.
 */

import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import { sha256Hex } from '@edge-recs/core/bytes';
import { Command } from 'commander';
import { parse } from 'csv-parse';
import { writeArtifact } from '../artifact-fs';
import { DEFAULT_BLEND, factorStats } from '../blend';
import { loadInteractions } from '../data';
import { type ImportCounts, jsonLines, readNeighbourLists } from '../import-neighbours';
import { itemModelArtifact } from '../item-artifact';
import { DEFAULT_ITEM_PARAMS, type NeighbourLists } from '../item-model';
import { type Csr, csrFromTriples } from '../sparse';
import { num, run, signingKey } from './common';

const program = new Command('import-spark')
  .description('Package Spark MLlib ALS factors as a signed model artifact')
  .requiredOption('--users <dir>', 'userFactors JSON-lines directory (or file)')
  .requiredOption('--items <dir>', 'itemFactors JSON-lines directory (or file)')
  .requiredOption('--out <dir>', 'artifact directory to write')
  .option('--interactions <file>', 'generic interactions CSV used for training (popularity and histories)')
  .option('--titles <file>', 'item metadata CSV with item_id,title')
  .option('--alpha <x>', 'Spark ALS alpha', num('float', 0), 1)
  .option('--reg-param <x>', 'Spark ALS regParam', num('float', 0), 0.1)
  .option('--neighbours <dir>', 'item neighbour lists, JSON lines {"item", "neighbours": [{"id", "weight"}]} (the item model)')
  .option('--bought-together <dir>', 'bought-together lists in the same layout (needs --neighbours)')
  .option('--neighbours-top <n>', 'neighbours kept per item', num('int', 1), DEFAULT_ITEM_PARAMS.neighbours)
  .option('--neighbours-weights <type>', 'stored neighbour weights: int8 or float16', DEFAULT_ITEM_PARAMS.weightType)
  .option('--factor-weight <a>', 'blend: a·z(factor score) + (1 − a)·neighbour score', num('float', 0), DEFAULT_BLEND.factorWeight)
  .option('--allow-unknown-ids', 'drop neighbour entries whose ids are not among the item factors instead of failing')
  .option('--version <id>', 'model version id')
  .option('--key-file <file>', 'Ed25519 private key (default $MODEL_SIGNING_KEY)');

interface FactorRow {
  id: string;
  features: number[];
}

async function readFactors(path: string): Promise<FactorRow[]> {
  const rows: FactorRow[] = [];
  for await (const { where, value } of jsonLines(path)) {
    const row = (value ?? {}) as { id?: unknown; features?: unknown };
    if (
      (typeof row.id !== 'number' && typeof row.id !== 'string') ||
      !Array.isArray(row.features) ||
      !row.features.every((x) => typeof x === 'number' && Number.isFinite(x))
    ) {
      throw new Error(`${where}: expected {"id": …, "features": [finite numbers]}`);
    }
    rows.push({ id: String(row.id), features: row.features as number[] });
  }
  const dims = rows[0]?.features.length ?? 0;
  if (!dims) throw new Error(`${path}: no factors`);
  for (const r of rows)
    if (r.features.length !== dims) throw new Error(`${path}: factor ${r.id} has ${r.features.length} dims, expected ${dims}`);
  return rows;
}

async function readTitles(file: string): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  const parser = createReadStream(file).pipe(
    parse({ bom: true, columns: true, relax_column_count: true, skip_records_with_error: true, trim: true }),
  );
  for await (const row of parser as AsyncIterable<Record<string, string>>) if (row.item_id && row.title) out.set(row.item_id, row.title);
  return out;
}

await run(async () => {
  program.parse();
  const o = program.opts();
  const users = await readFactors(o.users);
  const items = await readFactors(o.items);
  const dims = items[0].features.length;
  if (users[0].features.length !== dims) throw new Error(`user factors have ${users[0].features.length} dims, item factors ${dims}`);
  const itemIds = items.map((r) => r.id);
  const itemIndex = new Map(itemIds.map((id, i) => [id, i]));
  const userIds = users.map((r) => r.id);
  const userIndex = new Map(userIds.map((id, u) => [id, u]));
  const itemFactors = new Float32Array(items.length * dims);
  items.forEach((r, i) => {
    itemFactors.set(r.features, i * dims);
  });
  const userFactors = new Float32Array(users.length * dims);
  users.forEach((r, u) => {
    userFactors.set(r.features, u * dims);
  });

  let userItems: Csr = csrFromTriples(users.length, items.length, new Int32Array(0), new Int32Array(0), new Float32Array(0));
  const counts = new Float32Array(items.length);
  let digest = await sha256Hex(itemFactors.slice().buffer);
  let source = `spark:${basename(o.items)}`;
  if (o.interactions) {
    const ds = await loadInteractions(o.interactions);
    const r: number[] = [],
      c: number[] = [],
      v: number[] = [];
    for (let u = 0; u < ds.matrix.rows; u++) {
      const uu = userIndex.get(ds.userIds[u]);
      for (let p = ds.matrix.rowPtr[u]; p < ds.matrix.rowPtr[u + 1]; p++) {
        const ii = itemIndex.get(ds.itemIds[ds.matrix.colIdx[p]]);
        if (ii === undefined) continue;
        counts[ii]++;
        if (uu !== undefined) {
          r.push(uu);
          c.push(ii);
          v.push(ds.matrix.values[p]);
        }
      }
    }
    userItems = csrFromTriples(users.length, items.length, Int32Array.from(r), Int32Array.from(c), Float32Array.from(v));
    digest = ds.digest;
    source = basename(o.interactions);
  }
  const titleMap = o.titles ? await readTitles(o.titles) : new Map<string, string>();
  if (o.boughtTogether && !o.neighbours) throw new Error('--bought-together needs --neighbours (the item model they belong to)');
  if (o.neighboursWeights !== 'int8' && o.neighboursWeights !== 'float16')
    throw new Error(`--neighbours-weights must be int8 or float16, got ${String(o.neighboursWeights)}`);
  if (o.factorWeight > 1) throw new Error('--factor-weight must be in [0, 1]');
  const importOpts = {
    top: o.neighboursTop as number,
    weightType: o.neighboursWeights as 'int8' | 'float16',
    allowUnknown: !!o.allowUnknownIds,
  };
  const report = (what: string, c: ImportCounts) =>
    console.log(
      `${what}: ${c.items} lists, ${c.kept} neighbours kept; dropped ${c.nonPositive} with weight ≤ 0, ${c.self} self-references, ${c.cut} beyond the top ${importOpts.top}, ${c.duplicates} repeated${c.unknownItems + c.unknownNeighbours ? `, ${c.unknownItems} lists and ${c.unknownNeighbours} entries with unknown ids` : ''}`,
    );
  let itemModel: ReturnType<typeof itemModelArtifact> | undefined;
  if (o.neighbours) {
    const read = async (dir: string, what: string): Promise<NeighbourLists> => {
      const { lists, counts } = await readNeighbourLists(dir, itemIndex, importOpts);
      report(what, counts);
      return lists;
    };
    const lists = await read(o.neighbours, 'neighbours');
    const boughtTogether = o.boughtTogether ? await read(o.boughtTogether, 'bought together') : null;
    const recorded = { neighbours: importOpts.top, weightType: importOpts.weightType };
    itemModel = itemModelArtifact({
      lists,
      boughtTogether,
      stats: factorStats(itemFactors, items.length, dims),
      params: recorded,
      ...(boughtTogether ? { boughtTogetherParams: recorded } : {}),
      blend: { ...DEFAULT_BLEND, factorWeight: o.factorWeight },
      algorithm: 'imported',
      algorithmParams: { source: basename(o.neighbours) },
    });
  }
  const key = await signingKey(o.keyFile);
  const manifest = await writeArtifact(o.out, {
    version: o.version,
    algorithm: 'spark-mllib-als-implicit',
    hyperparameters: { factors: dims, alpha: o.alpha, regParam: o.regParam },
    foldIn: {
      unobservedWeight: 1,
      alpha: o.alpha,
      regularization: o.regParam,
      regExponent: 1,
      confidence: 'linear',
      regularizationScaling: 'interactions',
    },
    data: {
      source,
      layout: 'spark',
      sha256: digest,
      users: users.length,
      items: items.length,
      interactions: userItems.rowPtr[userItems.rows],
    },
    dims,
    itemIds,
    titles: itemIds.map((id) => titleMap.get(id) ?? ''),
    itemCounts: counts,
    itemFactors,
    itemWeights: new Float32Array(items.length).fill(1),
    userIds,
    userFactors,
    userItems,
    evaluation: null,
    signingKey: key,
    itemModel,
  });
  console.log(
    `imported ${users.length} users × ${items.length} items × ${dims} dims${itemModel ? ' with the item model' : ''} as model ${manifest.version} in ${o.out}${key ? '' : ' (UNSIGNED: set MODEL_SIGNING_KEY to publish)'}`,
  );
});
