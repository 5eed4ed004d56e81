/** Catalogue filters from a request (query parameters of GETs, the `filter` object of POST bodies). */
import { type ItemFilter, toItemFilter } from '../services/merchandising';

/** The filter fields of a validated query (see schemas.ts shelfQuery). */
export function filterFromQuery(q: {
  category?: string[];
  minPrice?: number;
  maxPrice?: number;
  exclude?: string[];
  includeUnavailable?: boolean;
}): ItemFilter {
  return {
    categories: q.category,
    minPrice: q.minPrice,
    maxPrice: q.maxPrice,
    exclude: q.exclude,
    includeUnavailable: q.includeUnavailable,
  };
}

/** The `filter` object of a validated body. */
export const filterFromBody = toItemFilter;
