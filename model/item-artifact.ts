/**
 * The item model's files in a model artifact (formats in core/neighbours.ts and core/blend.ts):
 *   item_model/neighbours/NNNN.bin        neighbour lists, NEIGHBOUR_PART_ITEMS items per part
 *   item_model/bought_together/NNNN.bin   the same, learned from baskets (when the input has them)
 *   item_model/factor_stats.f64           ȳ and Σ of the item factors (z-normalisation at the edge)
 * and the manifest's `itemModel` section: the blend constants and how the lists were made.
 * Parts keep each file well under a KV value and let the edge read only the lists a request needs.
 */
import { type BlendParams, encodeFactorStats, type FactorStats } from '@edge-recs/core/blend';
import { FILES, type Manifest } from '@edge-recs/core/manifest';
import { encodeNeighbourPart, NEIGHBOUR_PART_ITEMS, NeighbourPart, neighbourParts } from '@edge-recs/core/neighbours';
import type { ItemModelParams, NeighbourLists } from './item-model';

/** The artifact files of one set of lists. */
export function neighbourFiles(lists: NeighbourLists, fileOf: (part: number) => string): Record<string, Uint8Array> {
  const files: Record<string, Uint8Array> = {};
  for (let n = 0; n < neighbourParts(lists.itemCount); n++) {
    const first = n * NEIGHBOUR_PART_ITEMS;
    files[fileOf(n)] = encodeNeighbourPart(lists, first, Math.min(NEIGHBOUR_PART_ITEMS, lists.itemCount - first));
  }
  return files;
}

/** Lists read back from their parts (tests, tools): the inverse of neighbourFiles. */
export function readNeighbourFiles(files: Record<string, Uint8Array>, itemCount: number, fileOf: (part: number) => string): NeighbourLists {
  const rowPtr = new Int32Array(itemCount + 1);
  const index: number[] = [];
  const weight: number[] = [];
  let weightType: 'int8' | 'float16' = 'int8';
  for (let n = 0; n < neighbourParts(itemCount); n++) {
    const bytes = files[fileOf(n)];
    const first = n * NEIGHBOUR_PART_ITEMS;
    const count = Math.min(NEIGHBOUR_PART_ITEMS, itemCount - first);
    const part = new NeighbourPart(bytes.slice().buffer, { first, count, itemCount });
    weightType = part.weightType;
    for (let j = first; j < first + count; j++) {
      const r = part.row(j);
      index.push(...r.index);
      weight.push(...r.weight);
      rowPtr[j + 1] = index.length;
    }
  }
  return { itemCount, rowPtr, index: Int32Array.from(index), weight: Float32Array.from(weight), weightType };
}

/** What the manifest records of how a set of lists was made: N and the weight type always, the rest when known. */
export type RecordedParams = Pick<ItemModelParams, 'neighbours' | 'weightType'> &
  Partial<ItemModelParams> & {
    /** bought together only: the association gate's z (model/bought-together.ts) */
    associationZ?: number;
  };

export interface ItemModelArtifact {
  lists: NeighbourLists;
  boughtTogether: NeighbourLists | null;
  stats: FactorStats;
  params: RecordedParams;
  boughtTogetherParams?: RecordedParams;
  blend: BlendParams;
  /** how the lists were learned, for the manifest (default 'edlae': exact EASE/EDLAE) */
  algorithm?: string;
  /** further settings of that algorithm, recorded under `params` (e.g. local EASE's neighbourhood) */
  algorithmParams?: Record<string, number | string>;
}

/** Every file of the item model, and the manifest section describing it. */
export function itemModelArtifact(a: ItemModelArtifact): {
  files: Record<string, Uint8Array>;
  manifest: NonNullable<Manifest['itemModel']>;
} {
  const files: Record<string, Uint8Array> = {
    ...neighbourFiles(a.lists, FILES.neighbourPart),
    ...(a.boughtTogether ? neighbourFiles(a.boughtTogether, FILES.boughtTogetherPart) : {}),
    [FILES.factorStats]: encodeFactorStats(a.stats),
  };
  const params: Record<string, number | string> = {};
  const record = (prefix: string, p: RecordedParams) => {
    for (const key of ['lambda', 'dropout', 'popularityDebias', 'associationZ'] as const)
      if (p[key] !== undefined) params[prefix + key] = p[key];
  };
  record('', a.params);
  Object.assign(params, a.algorithmParams);
  if (a.boughtTogetherParams) {
    record('boughtTogether.', a.boughtTogetherParams);
    params['boughtTogether.neighbours'] = a.boughtTogetherParams.neighbours;
  }
  return {
    files,
    manifest: {
      algorithm: a.algorithm ?? 'edlae',
      neighbours: a.params.neighbours,
      weightType: a.params.weightType,
      blend: { ...a.blend },
      boughtTogether: a.boughtTogether !== null,
      params,
    },
  };
}
