/**
 * Answers beside the personalised list: what is trending now (time-decayed popularity from live
 * events, filled with the model's popularity while events are few), what a shopper recently looked
 * at (their edge history, newest first), and what is bought together with an item (the item
 * model's lists learned from baskets). Every answer passes the shelf's filters and placement.
 */

import type { Answer } from '../schemas';
import type { HistorySnapshot } from '../storage/history';
import type { TrendingClient } from '../storage/trending';
import { activeBoosts } from './merchandising';
import { popularList } from './recommend';
import { arrange, boostedNew, type Entry, omitting, placementSummary, present, type Shelf } from './shelf';

/** Whether an item (model or new) passes the shelf; its entry when it does. */
function entryFor(shelf: Shelf, id: string, score: number): Entry | null {
  const index = shelf.model.ids.indexOf(id);
  if (index !== undefined) {
    if (shelf.excluded.has(index) || shelf.filter.whyNot(index, id) !== null) return null;
    const c = shelf.plan?.classes[index] ?? 1;
    if (c === 0) return null;
    const s = shelf.plan ? score * shelf.plan.transforms[2 * c] + shelf.plan.transforms[2 * c + 1] : score;
    return { index, id, score: s };
  }
  const r = shelf.binding.newItems.get(id);
  return r && shelf.filter.recordWhyNot(r) === null ? { id, ...boostedNew(shelf, r, score) } : null;
}

async function answer(shelf: Shelf, source: Answer['source'], list: Entry[]): Promise<Answer> {
  const placement = placementSummary(shelf, list);
  return { model: shelf.model.version, source, items: await present(shelf, list), ...(placement ? { placement } : {}) };
}

/**
 * Trending items that pass the shelf, by decayed score (with the placement's boosts); while fewer
 * than k items have enough recent shoppers, the rest is the model's popularity (after the
 * trending ones, score 0) — all of it before any event. A placement's boosts rank the whole list,
 * trending items and that popularity alike: a popular item's score before boosts is 0, below
 * every trending item's, and its boosted score is what ranks it — so with boosts in force the
 * popularity is always ranked with the trends (a smaller k is the top of a larger one). The
 * answer's `source` is always "trending": the scores say which items trend.
 */
export async function trending(shelf: Shelf, trends: TrendingClient, k: number, now = Date.now()): Promise<Answer> {
  const list: Entry[] = [];
  // every listed trend (at most TRENDING_TOP) is ranked: a boost may lift one from below the k-th
  for (const t of await trends.top(now)) {
    const e = entryFor(shelf, t.itemId, t.score);
    if (e) list.push(e);
  }
  list.sort((a, b) => b.score - a.score);
  let arranged = await arrange(shelf, list, k);
  // fewer than k trend (or the placement's diversity cap left fewer): the model's popularity fills
  // the rest after them, each item once (new items join the popular list by id); with boosts, it
  // is ranked with them whatever k is, since a boost may lift a popular item above a trending one
  if (arranged.length < k || activeBoosts(shelf.placement, shelf.now).length > 0) {
    const taken = new Set(list.map((e) => e.id));
    const indices = new Set(list.map((e) => e.index).filter((i): i is number => i !== undefined));
    const fill: Entry[] = [];
    for (const e of await popularList(shelf, k, indices, taken)) {
      // score 0 before boosts (a trend's decayed score is above 0), then the boosts
      const f = entryFor(shelf, e.id, 0);
      if (f) fill.push(f);
    }
    // stable: trending items first among equal scores, the fill in its own order
    const ranked = [...list, ...fill].sort((a, b) => b.score - a.score);
    arranged = await arrange(shelf, ranked, k);
  }
  return answer(shelf, 'trending', arranged);
}

/** The shopper's recent items (any interaction at the edge), newest first. */
export async function recent(shelf: Shelf, history: HistorySnapshot | null, k: number): Promise<Answer> {
  // what the shopper saw, in the order they saw it: a placement's filter and diversity cap apply,
  // but its boosts, pins and exploration slots would put items there they never viewed
  const p = shelf.placement;
  const own: Shelf = p ? { ...shelf, placement: { ...p, boosts: [], pins: [], explorationSlots: 0 }, plan: null } : shelf;
  const list: Entry[] = [];
  // viewed (or clicked through to): an item only carted or bought is not "recently viewed"
  const items = [...(history?.items ?? [])].filter((h) => h.lastViewedAt > 0).sort((a, b) => b.lastViewedAt - a.lastViewedAt);
  for (const h of items) {
    const e = entryFor(shelf, h.itemId, h.lastViewedAt / 1000);
    if (e) list.push({ id: e.id, ...(e.index !== undefined ? { index: e.index } : {}), score: h.lastViewedAt / 1000 });
  }
  return answer(own, 'recent', await arrange(own, list, k));
}

/**
 * Items bought together with `id`: its list from the item model learned on baskets (invoices,
 * sessions), or — when the training data had no baskets, or has none with this item and another
 * (an imported job's lists may cover only some items) — its item-model neighbours. Scores are the
 * lists' weights (with the placement's boosts).
 */
export async function boughtTogether(shelf: Shelf, id: string, k: number): Promise<Answer> {
  const { model } = shelf;
  const index = model.ids.indexOf(id);
  const im = model.itemModel;
  const list: Entry[] = [];
  if (index !== undefined && im) {
    let [row] = im.boughtTogether ? await im.boughtTogether.rows([index]) : [];
    if (!row || row.index.length === 0) [row] = await im.neighbours.rows([index]);
    // the whole row (N ≤ a few hundred) is ranked: a boost may lift an item from below the k-th
    for (let p = 0; p < row.index.length; p++) {
      const e = entryFor(shelf, model.ids.id(row.index[p]), row.weight[p]);
      if (e) list.push(e);
    }
  }
  list.sort((a, b) => b.score - a.score);
  // the item itself is never on its own list, nor pinned there
  const own = omitting(shelf, (other) => other === id);
  return answer(own, 'bought-together', await arrange(own, list, k));
}
