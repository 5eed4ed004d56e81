/**
 * The item-item model of a version as the edge holds it: the blend constants and the factor
 * statistics (loaded with the version: D + D² numbers), and the neighbour lists, read part by
 * part as requests need them (each part's size and digest checked like every artifact file) and
 * kept in a small LRU. A part that fails its check is served around — its items simply have no
 * neighbours — and reported once, like a damaged user shard. The check covers the bytes (size and
 * digest), the layout, and the weights: a part with a weight that is not a finite number ≥ 0
 * (core/neighbours.ts) is damaged data too, so a list never gives a null score or a NaN order.
 * (The first neighbour part is also read when the version loads, so such a part 0 rejects it.)
 */
import type { BlendParams, FactorStats } from '@edge-recs/core/blend';
import type { Manifest } from '@edge-recs/core/manifest';
import { NEIGHBOUR_PART_ITEMS, NeighbourPart } from '@edge-recs/core/neighbours';
import { PromiseLru } from './lru';

export interface NeighbourRow {
  index: Int32Array;
  weight: Float32Array;
}

const EMPTY: NeighbourRow = { index: new Int32Array(0), weight: new Float32Array(0) };

/** One kind of lists (item neighbours, or bought together), read lazily. */
export class NeighbourLists {
  private readonly parts: PromiseLru<number, NeighbourPart | null>;

  /**
   * @param maxParts  parts kept in this isolate (each ~4,096 items × N neighbours × 5 bytes; see
   *   neighbourCacheParts in model.ts)
   * @param readPart  checked bytes of part n (throws when the part is unusable)
   * @param onDamage  told once per part and isolate when a part is unusable
   */
  constructor(
    private readonly itemCount: number,
    maxParts: number,
    private readonly readPart: (n: number) => Promise<ArrayBuffer>,
    private readonly onDamage?: (part: number, reason: string) => Promise<void>,
  ) {
    this.parts = new PromiseLru(maxParts);
  }

  private part(n: number): Promise<NeighbourPart | null> {
    return this.parts.get(n, async () => {
      const first = n * NEIGHBOUR_PART_ITEMS;
      try {
        return new NeighbourPart(await this.readPart(n), {
          first,
          count: Math.min(NEIGHBOUR_PART_ITEMS, this.itemCount - first),
          itemCount: this.itemCount,
        });
      } catch (err) {
        const reason = err instanceof Error ? err.message : String(err);
        console.error(`neighbour part ${n} is unusable (${reason}); its items are served without neighbours`);
        await this.onDamage?.(n, reason).catch(() => undefined);
        return null;
      }
    });
  }

  /** The neighbours of each item (in order), reading each needed part once, in parallel. */
  async rows(items: readonly number[]): Promise<NeighbourRow[]> {
    const needed = [...new Set(items.map((i) => Math.floor(i / NEIGHBOUR_PART_ITEMS)))];
    const parts = new Map(await Promise.all(needed.map(async (n) => [n, await this.part(n)] as const)));
    return items.map((i) => parts.get(Math.floor(i / NEIGHBOUR_PART_ITEMS))?.row(i) ?? EMPTY);
  }
}

export class ItemModel {
  constructor(
    readonly blend: BlendParams,
    readonly stats: FactorStats,
    readonly neighbours: NeighbourLists,
    /** lists learned from baskets; null when the training data had none */
    readonly boughtTogether: NeighbourLists | null,
    readonly manifest: NonNullable<Manifest['itemModel']>,
  ) {}

  /** Bytes this holds in the isolate besides its cached parts. */
  get memoryBytes(): number {
    return this.stats.mean.byteLength + this.stats.cov.byteLength;
  }
}
