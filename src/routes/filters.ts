/** Catalogue filters from a request (query parameters of GETs, the `filter` object of POST bodies). */

import { AppError } from '../errors';
import { PRICE_BAND_MESSAGE, priceBandOk } from '../schemas';
import { type ItemFilter, toItemFilter } from '../services/merchandising';

/** The filter fields of a validated query (see schemas.ts shelfQuery). */
export function filterFromQuery(q: {
  category?: string[];
  minPrice?: number;
  maxPrice?: number;
  exclude?: string[];
  includeUnavailable?: boolean;
}): ItemFilter {
  // the same rule, and the same answer, as the `filter` object of a POST body
  if (!priceBandOk(q)) throw new AppError('invalid_request', `minPrice: ${PRICE_BAND_MESSAGE}`);
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
