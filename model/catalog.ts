/**
 * Reads an artifact's whole catalogue back into plain arrays (ids, titles, counts, popularity
 * order): for tests that state what the API should answer, and for the central-server baseline.
 * The Worker itself reads the catalogue lazily (src/models/catalog.ts).
 */

import { CatalogPartView } from '@edge-recs/core/catalog-part';
import { CATALOG_PART_ITEMS, catalogParts, FILES, popularSchema } from '@edge-recs/core/manifest';

export interface PlainCatalog {
  ids: string[];
  titles: string[];
  counts: number[];
  /** item indices, most popular first (the POPULAR_ITEMS that popular.json lists) */
  popularity: number[];
}

export function readCatalog(files: Record<string, ArrayBuffer | Uint8Array>): PlainCatalog {
  const text = (name: string) => new TextDecoder().decode(files[name]);
  const ids = text(FILES.itemIds).split('\n').slice(0, -1);
  const titles: string[] = [];
  const counts: number[] = [];
  for (let n = 0; n < catalogParts(ids.length); n++) {
    const b = files[FILES.catalogPart(n)];
    const bytes = b instanceof Uint8Array ? new Uint8Array(b).buffer : b; // a copy: Node Buffers share a pool
    const part = new CatalogPartView(bytes, Math.min(CATALOG_PART_ITEMS, ids.length - n * CATALOG_PART_ITEMS));
    for (let k = 0; k < part.length; k++) {
      titles.push(part.title(k));
      counts.push(part.count(k));
    }
  }
  return { ids, titles, counts, popularity: popularSchema.parse(JSON.parse(text(FILES.popular))).items };
}
