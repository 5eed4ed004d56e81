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
 * item popularity and user histories, and the items' titles (and price, category, … columns, as
 * train reads them); without it popularity follows the item order.
 *
 * --neighbours adds the item model (the neighbour lists the edge blends with the factor scores)
 * from a distributed job, and --bought-together its "bought together" lists, both as JSON lines
 * in part files, one line per item:
 *   {"item": "<id>", "neighbours": [{"id": "<id>", "weight": w}, ...]}
 * — Spark's `RowMatrix.columnSimilarities()` after a join back to ids, the transposed entries
 * added, and a top N per item (model/import-neighbours.ts has the recipe and every rule). Weights
 * ≤ 0 and self-references are dropped, each list is sorted by weight and cut to --neighbours-top
 * (default: the trainer's N), and stored quantised as the trainer stores its own; ids that are not
 * among the item factors fail the import with a count (--allow-unknown-ids drops them instead). A
 * weight that is not a finite number fails the import with its file and line. Finite weights of
 * any size are accepted: when the largest of an import is outside float16's normal range (2^-14 …
 * 65504), all its weights are multiplied by one power of two that brings the largest into [0.5, 1)
 * (the blend is unchanged by a common factor), and the summary line says so; an entry that would
 * be stored as 0 is dropped and counted — and when that is most of them (one outlier beside
 * lists of ordinary weights) the import fails. So no stored weight is ever Infinity, NaN or 0.
 * The blend uses --factor-weight a (default: the trainer's) and factor statistics computed from
 * the imported item factors.
 *
 * Every user and item id must appear once among the factors: a part file copied twice (or two
 * jobs' outputs in one directory) would otherwise give the Worker an item_ids.txt it refuses, or
 * two vectors for one user of which it would silently serve one. The import fails naming the id
 * and both places. --titles takes the same items CSV as train's --items (model/data.ts).
 */

import { basename } from 'node:path';
import { sha256Hex } from '@edge-recs/core/bytes';
import { Command } from 'commander';
import { writeArtifact } from '../artifact-fs';
import { DEFAULT_BLEND, factorStats } from '../blend';
import { applyItemsFile, emptyItemInfo, loadInteractions } from '../data';
import { type ImportCounts, jsonLines, readNeighbourLists, times2, WEIGHT_RANGE } from '../import-neighbours';
import { itemModelArtifact } from '../item-artifact';
import { DEFAULT_ITEM_PARAMS, type NeighbourLists } from '../item-model';
import { type Csr, csrFromTriples } from '../sparse';
import { itemsReportLines, MANIFEST_BOUNDS, num, run, signingKey, versionId } from './common';

const program = new Command('import-spark')
  .description('Package Spark MLlib ALS factors as a signed model artifact')
  .requiredOption('--users <dir>', 'userFactors JSON-lines directory (or file)')
  .requiredOption('--items <dir>', 'itemFactors JSON-lines directory (or file)')
  .requiredOption('--out <dir>', 'artifact directory to write')
  .option('--interactions <file>', 'generic interactions CSV used for training (popularity and histories)')
  .option('--titles <file>', 'item metadata CSV: item_id and any of title, category, price, available, image_url (as train --items)')
  .option('--alpha <x>', 'Spark ALS alpha', num('float', MANIFEST_BOUNDS.alpha), 1)
  .option('--reg-param <x>', 'Spark ALS regParam', num('float', MANIFEST_BOUNDS.regularization), 0.1)
  .option('--neighbours <dir>', 'item neighbour lists, JSON lines {"item", "neighbours": [{"id", "weight"}]} (the item model)')
  .option('--bought-together <dir>', 'bought-together lists in the same layout (needs --neighbours)')
  .option('--neighbours-top <n>', 'neighbours kept per item', num('int', MANIFEST_BOUNDS.neighbours), DEFAULT_ITEM_PARAMS.neighbours)
  .option('--neighbours-weights <type>', 'stored neighbour weights: int8 or float16', DEFAULT_ITEM_PARAMS.weightType)
  .option(
    '--factor-weight <a>',
    'blend: a·z(factor score) + (1 − a)·neighbour score',
    num('float', MANIFEST_BOUNDS.factorWeight),
    DEFAULT_BLEND.factorWeight,
  )
  .option('--allow-unknown-ids', 'drop neighbour entries whose ids are not among the item factors instead of failing')
  .option('--version <id>', 'model version id', versionId)
  .option('--key-file <file>', 'Ed25519 private key (default $MODEL_SIGNING_KEY)');

interface FactorRow {
  id: string;
  features: number[];
}

/** The factor rows of a JSON-lines directory or file; `what` (user, item) names them in errors. */
async function readFactors(path: string, what: 'user' | 'item'): Promise<FactorRow[]> {
  const rows: FactorRow[] = [];
  const seen = new Map<string, string>();
  for await (const { where, value } of jsonLines(path)) {
    const row = (value ?? {}) as { id?: unknown; features?: unknown };
    if (
      (typeof row.id !== 'number' && typeof row.id !== 'string') ||
      !Array.isArray(row.features) ||
      !row.features.every((x) => typeof x === 'number' && Number.isFinite(x))
    ) {
      throw new Error(`${where}: expected {"id": …, "features": [finite numbers]}`);
    }
    const id = String(row.id);
    const first = seen.get(id);
    if (first !== undefined)
      throw new Error(`${where}: the ${what} id ${JSON.stringify(id)} repeats ${first} (each id once: is a part file there twice?)`);
    seen.set(id, where);
    rows.push({ id, features: row.features as number[] });
  }
  const dims = rows[0]?.features.length ?? 0;
  if (!dims) throw new Error(`${path}: no factors`);
  for (const r of rows)
    if (r.features.length !== dims) throw new Error(`${path}: factor ${r.id} has ${r.features.length} dims, expected ${dims}`);
  return rows;
}

await run(async () => {
  program.parse();
  const o = program.opts();
  const users = await readFactors(o.users, 'user');
  const items = await readFactors(o.items, 'item');
  const dims = items[0].features.length;
  if (users[0].features.length !== dims) throw new Error(`user factors have ${users[0].features.length} dims, item factors ${dims}`);
  const dimsOk = MANIFEST_BOUNDS.dims.safeParse(dims);
  if (!dimsOk.success) throw new Error(`the factors have ${dims} dims: the model manifest allows 1 to ${MANIFEST_BOUNDS.dims.maxValue}`);
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
  const titles = new Array<string>(items.length).fill('');
  const fields = emptyItemInfo(items.length);
  if (o.interactions) {
    const ds = await loadInteractions(o.interactions);
    // what the interactions say of an item (title, price, … columns), as train takes it; --titles goes over it
    ds.itemIds.forEach((id, d) => {
      const ii = itemIndex.get(id);
      if (ii === undefined) return;
      titles[ii] = ds.titles[d];
      fields.price[ii] = ds.fields.price[d];
      fields.category[ii] = ds.fields.category[d];
      fields.available[ii] = ds.fields.available[d];
      fields.imageUrl[ii] = ds.fields.imageUrl[d];
    });
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
  if (o.titles) for (const line of itemsReportLines(await applyItemsFile(o.titles, { itemIds, titles, fields }))) console.log(line);
  if (o.boughtTogether && !o.neighbours) throw new Error('--bought-together needs --neighbours (the item model they belong to)');
  if (o.neighboursWeights !== 'int8' && o.neighboursWeights !== 'float16')
    throw new Error(`--neighbours-weights must be int8 or float16, got ${String(o.neighboursWeights)}`);
  const importOpts = {
    top: o.neighboursTop as number,
    weightType: o.neighboursWeights as 'int8' | 'float16',
    allowUnknown: !!o.allowUnknownIds,
  };
  const report = (what: string, c: ImportCounts) => {
    console.log(
      `${what}: ${c.items} lists, ${c.kept} neighbours kept; dropped ${c.nonPositive} with weight ≤ 0, ${c.self} self-references, ${c.cut} beyond the top ${importOpts.top}, ${c.duplicates} repeated${c.unknownItems + c.unknownNeighbours ? `, ${c.unknownItems} lists and ${c.unknownNeighbours} entries with unknown ids` : ''}${c.storedAsZero ? `, ${c.storedAsZero} too small to store as ${importOpts.weightType} (they would be 0)` : ''}`,
    );
    if (c.scaleExponent)
      console.log(
        `${what}: the largest weight, ${c.largest}, is outside 2^${Math.log2(WEIGHT_RANGE.min)}…${WEIGHT_RANGE.max}: every weight is stored × 2^${c.scaleExponent} (the largest becomes ${Number(times2(c.largest, c.scaleExponent).toPrecision(4))}; rankings and the blend stay as the weights give them; bought-together scores are the stored weights)`,
      );
  };
  let itemModel: ReturnType<typeof itemModelArtifact> | undefined;
  if (o.neighbours) {
    const read = async (dir: string, what: string): Promise<NeighbourLists> => {
      const { lists, counts } = await readNeighbourLists(dir, itemIndex, importOpts);
      report(what, counts);
      // losing most lists to one outlier weight is a broken job's output, not a model to serve
      if (counts.storedAsZero > counts.kept)
        throw new Error(
          `${what}: ${counts.storedAsZero} of ${counts.storedAsZero + counts.kept} entries would be stored as 0 in ${importOpts.weightType} beside ${importOpts.weightType === 'int8' ? "their list's largest weight (int8 keeps 1/254 of it)" : `the largest weight, ${counts.largest}`}: the weights span more than ${importOpts.weightType} keeps — check the job's output for an outlier${importOpts.weightType === 'int8' ? ', or pass --neighbours-weights float16' : ''}`,
        );
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
    titles,
    fields,
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
