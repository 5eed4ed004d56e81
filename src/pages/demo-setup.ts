/**
 * The demo store's merchandising, in one place: the page shows it as the operator's curl lines,
 * its "Load sample categories" button sends DEMO_CATEGORIES, and the e2e test sets up the same.
 *
 * The bundled Online Retail model knows prices but no categories (the data set has none), so the
 * demo brings a few: popular products grouped by what their titles say. A shop's own catalogue
 * feed sets `category` for every item with the same `PUT /v1/items`.
 *
 * Placements need the admin token, which a browser page should not hold: the operator creates
 * `demo-featured` with the curl line the page shows.
 */
import type { z } from '@hono/zod-openapi';
import type { PlacementInput } from '../schemas';

/** The placement the "Featured" shelf applies (`?placement=demo-featured`). */
export const DEMO_PLACEMENT = 'demo-featured';

/** Its rules: a winter campaign on three hand warmers (score ×2), and a cake stand pinned third. */
export const DEMO_PLACEMENT_RULES = {
  description: 'Demo: hand warmers boosted x2 (winter campaign), the sweetheart cake stand pinned at position 3',
  boosts: [{ match: { ids: ['22865', '22866', '22867'] }, multiply: 2 }],
  pins: [{ itemId: '22776', position: 3 }],
} satisfies z.input<typeof PlacementInput>;

const group = (category: string, ids: string[]) => ids.map((id) => ({ id, category }));

/** Sample categories for popular products of the bundled model (ids of Online Retail). */
export const DEMO_CATEGORIES: { id: string; category: string }[] = [
  ...group('Lunch bags', ['20725', '22382', '20728', '23209', '20727', '22384', '22383', '23206', '23207', '20726']),
  ...group('Jumbo bags', ['85099B', '23203', '23201', '23344', '23202', '22386', '23199']),
  ...group('Baking', ['22423', '22720', '21212', '22138', '23245', '84991', '21977', '23307', '22952', '22776', '84992', '23293']),
  ...group('Candle holders', ['85123A', '21733', '84946', '22178', '22804']),
  ...group('Hot water bottles', ['23355', '22111', '22112', '21485', '22113', '22114']),
  ...group('Hand warmers', ['22865', '22867', '22866', '22834', '23439']),
];
