/**
 * What the API says about items: ids (always in memory, compact), and titles and purchase counts,
 * which come from catalogue parts fetched on demand and kept in a small LRU. The most popular
 * items (popular.json) are always at hand: they serve cold starts and title search, and most
 * recommended items are among them, so the common response needs no part at all.
 */
import { CatalogPartView } from '@edge-recs/core/catalog-part';
import type { ItemIds } from '@edge-recs/core/item-ids';
import { CATALOG_PART_ITEMS, type Popular } from '@edge-recs/core/manifest';
import { PromiseLru } from './lru';

export interface ItemInfo {
  id: string;
  title: string;
  /** users who interacted with the item in the training data */
  count: number;
}

export class Catalog {
  /** parts kept per isolate and model, as their bytes (~100–200 KB each) */
  static readonly MAX_CACHED_PARTS = 64;
  private readonly parts = new PromiseLru<number, CatalogPartView>(Catalog.MAX_CACHED_PARTS);
  private readonly popularAt: Map<number, number>;

  /**
   * @param ids       item ids by index
   * @param popular   the most popular items, most popular first
   * @param readPart  bytes of catalog/NNNN.bin, digest-checked by the caller
   * @param onDamage  told (once per part and isolate) when a part cannot be read or fails its check
   */
  constructor(
    readonly ids: ItemIds,
    readonly popular: Popular,
    private readonly readPart: (n: number) => Promise<ArrayBuffer>,
    private readonly onDamage?: (part: number, reason: string) => Promise<void>,
  ) {
    this.popularAt = new Map(popular.items.map((index, j) => [index, j]));
  }

  get itemCount(): number {
    return this.ids.count;
  }

  private part(n: number): Promise<CatalogPartView> {
    return this.parts.get(
      n,
      async () => new CatalogPartView(await this.readPart(n), Math.min(CATALOG_PART_ITEMS, this.itemCount - n * CATALOG_PART_ITEMS)),
    );
  }

  private readonly damaged = new Set<number>();

  /** Parts were repaired: report a part again if it fails again. */
  forgetDamage(): void {
    this.damaged.clear();
  }

  /** A part, or null when it cannot be read (reported once; its items are described by id only). */
  private async partOrNull(n: number): Promise<CatalogPartView | null> {
    try {
      return await this.part(n);
    } catch (err) {
      if (!this.damaged.has(n)) {
        this.damaged.add(n);
        const reason = err instanceof Error ? err.message : String(err);
        console.error(`catalogue part ${n} is unusable (${reason}); its items are described without titles`);
        await this.onDamage?.(n, reason).catch(() => undefined);
      }
      return null;
    }
  }

  /**
   * Id, title and count of each index, in order (parts fetched in parallel, once each). An item
   * whose part is damaged keeps its id with an empty title and count 0: an answer never fails
   * for a title.
   */
  async describe(indices: readonly number[]): Promise<ItemInfo[]> {
    const needed = new Set<number>();
    for (const i of indices) if (!this.popularAt.has(i)) needed.add(Math.floor(i / CATALOG_PART_ITEMS));
    const parts = new Map(await Promise.all([...needed].map(async (n) => [n, await this.partOrNull(n)] as const)));
    return indices.map((i) => {
      const j = this.popularAt.get(i);
      if (j !== undefined) return { id: this.ids.id(i), title: this.popular.titles[j], count: this.popular.counts[j] };
      const part = parts.get(Math.floor(i / CATALOG_PART_ITEMS));
      if (!part) return { id: this.ids.id(i), title: '', count: 0 };
      const k = i % CATALOG_PART_ITEMS;
      return { id: this.ids.id(i), title: part.title(k), count: part.count(k) };
    });
  }
}

/** Image URLs from the artifact (catalog/images/NNNN.bin, the catalogue-part encoding), read part by part. */
export class ImageUrls {
  private readonly parts = new PromiseLru<number, CatalogPartView | null>(16);

  constructor(
    private readonly itemCount: number,
    private readonly readPart: (n: number) => Promise<ArrayBuffer>,
  ) {}

  /** The image URL of each index ('' when the data had none or its part cannot be read). */
  async of(indices: readonly number[]): Promise<string[]> {
    const needed = [...new Set(indices.map((i) => Math.floor(i / CATALOG_PART_ITEMS)))];
    const parts = new Map(
      await Promise.all(
        needed.map(async (n) => {
          const part = await this.parts.get(n, async () => {
            try {
              return new CatalogPartView(await this.readPart(n), Math.min(CATALOG_PART_ITEMS, this.itemCount - n * CATALOG_PART_ITEMS));
            } catch (err) {
              console.error(`image part ${n} is unusable (${err instanceof Error ? err.message : String(err)})`);
              return null;
            }
          });
          return [n, part] as const;
        }),
      ),
    );
    return indices.map((i) => parts.get(Math.floor(i / CATALOG_PART_ITEMS))?.title(i % CATALOG_PART_ITEMS) ?? '');
  }
}
