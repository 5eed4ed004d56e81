/**
 * The catalogue API's work: upserting batches (all-or-nothing, in the catalogue store), reading
 * an item as the API shows it (the catalogue's fields over the model's title and popularity),
 * removing an item from every answer, and the placements' definitions. A write is applied to this
 * isolate's copy at once; other isolates see it within CATALOG_MAX_STALE_SECONDS.
 */
import { AppError, unknownItemMessage } from '../errors';
import { categoriesOf, decimal, type LiveCatalog } from '../models/live-catalog';
import type { ServingModel } from '../models/model';
import type { ItemView, StoredPlacement } from '../schemas';
import type { CatalogClient, CatalogPatch, TitleRefusal } from '../storage/catalog-store';

export interface CatalogDeps {
  store: CatalogClient;
  /** this isolate's copy, to apply our own writes at once */
  live: LiveCatalog;
  maxBatch: number;
  facetAttributes: string[];
}

export async function upsertItems(
  deps: CatalogDeps,
  /** the active model (null: none serves yet): the ids it knows have a title already */
  model: ServingModel | null,
  patches: CatalogPatch[],
  now: number,
): Promise<{ seq: number; created: number; updated: number }> {
  if (patches.length > deps.maxBatch)
    throw new AppError('too_many_items', `the batch has ${patches.length} items; the limit is ${deps.maxBatch}`);
  // an item neither the model nor the catalogue knows is created by its patch: it needs a title
  // (the store decides inside its transaction whether the catalogue knows it)
  const untitledUnknown = patches.filter((p) => p.title == null && !model?.ids.has(p.id)).map((p) => p.id);
  const result = await deps.store.upsert(patches, now, untitledUnknown);
  if (result.refused) throw new AppError('invalid_request', titleRefusal(result.refused, model));
  const { seq, created, updated, records } = result;
  deps.live.applyChanges(records, []);
  return { seq, created, updated };
}

/** What the error says about a patch refused for want of a title: what actually happened to the item. */
function titleRefusal(refused: { index: number; id: string; reason: TitleRefusal }, model: ServingModel | null): string {
  const { index, id, reason } = refused;
  const notInModel = model ? `it is not in model ${model.version}` : 'no model serves yet';
  const why = {
    unknown: `${id} is a new item (${model ? `neither model ${model.version} nor the catalogue knows it` : 'no model serves yet and the catalogue does not know it'}), so it needs a title`,
    cleared: `${id} is a new item (only the catalogue knows it: ${notInModel}), so it needs a title: its title cannot be cleared`,
    deleted: `${id} was deleted from the catalogue (and ${notInModel}), so re-creating it needs its title again`,
    untitled: `${id} has no title in the catalogue (and ${notInModel}), so an update of it needs a title`,
  }[reason];
  return `items.${index}.title: ${why}`;
}

export async function removeItem(deps: CatalogDeps, model: ServingModel, id: string, now: number): Promise<{ seq: number }> {
  const current = await deps.live.record(id);
  if (!model.ids.has(id) && current === null) throw new AppError('item_not_found', unknownItemMessage(id, model.version));
  // deleting twice changes nothing (and takes no change number), like reading a deleted item
  if (current?.deleted) throw new AppError('item_not_found', `item ${id} was already deleted from the catalogue`);
  const { seq, record, alreadyDeleted } = await deps.store.remove(id, now);
  if (alreadyDeleted) throw new AppError('item_not_found', `item ${id} was already deleted from the catalogue`);
  deps.live.applyChanges([record], []);
  return { seq };
}

/** Whether the catalogue lists an item (has a record of it that is not deleted). */
export async function inCatalog(live: LiveCatalog, itemId: string): Promise<boolean> {
  const r = await live.record(itemId);
  return r !== null && !r.deleted;
}

/**
 * The price an item sells at now: the catalogue's, else the one the serving model was trained
 * with (an attributed purchase that names no price is counted at it).
 */
export async function currentPrice(
  live: LiveCatalog,
  model: ServingModel,
  itemId: string,
): Promise<{ price: number; currency?: string } | undefined> {
  const r = await live.record(itemId);
  if (r?.price !== undefined) return { price: r.price, ...(r.currency !== undefined ? { currency: r.currency } : {}) };
  const index = model.ids.indexOf(itemId);
  if (index === undefined) return undefined;
  const price = (await live.binding(model)).price[index];
  // the artifact's prices carry no currency: the shop's own
  return Number.isNaN(price) ? undefined : { price };
}

export async function itemView(live: LiveCatalog, model: ServingModel, id: string): Promise<ItemView> {
  const record = await live.record(id);
  const index = model.ids.indexOf(id);
  if (record?.deleted) throw new AppError('item_not_found', `item ${id} was deleted from the catalogue`);
  if (!record && index === undefined) throw new AppError('item_not_found', unknownItemMessage(id, model.version));
  const info = index === undefined ? null : (await model.catalog.describe([index]))[0];
  // the catalogue's record over what the artifact says (fields left out fall back to it)
  const f = index === undefined ? null : model.fields;
  const baseCategory = f && index !== undefined && f.category[index] > 0 ? f.categories[f.category[index] - 1] : undefined;
  const cats = record && categoriesOf(record).length ? categoriesOf(record) : baseCategory ? [baseCategory] : [];
  const basePrice = f && index !== undefined && !Number.isNaN(f.price[index]) ? decimal(f.price[index]) : undefined;
  const price = record?.price ?? basePrice;
  const baseAvailable = f && index !== undefined ? f.available[index] !== 0 : true;
  const image = record?.imageUrl ?? (index !== undefined && model.images ? (await model.images.of([index]))[0] || undefined : undefined);
  return {
    id,
    title: record?.title ?? info?.title ?? '',
    ...(cats.length ? { category: cats[0], categories: cats } : {}),
    ...(price !== undefined ? { price } : {}),
    ...(record?.currency !== undefined ? { currency: record.currency } : {}),
    available: record?.available ?? baseAvailable,
    ...(image !== undefined ? { imageUrl: image } : {}),
    ...(record?.attributes ? { attributes: record.attributes } : {}),
    ...(record ? { createdAt: new Date(record.createdAt).toISOString(), updatedAt: new Date(record.updatedAt).toISOString() } : {}),
    inModel: index !== undefined,
    popularity: info ? model.popularityShare(info.count) : null,
    model: model.version,
  };
}

/**
 * Stores a placement after checking what the schema cannot: boosts on declared attributes only.
 * Also returns the pinned and boosted ids that neither `model` (null: none serves yet) nor this
 * isolate's copy of the catalogue knows: stored all the same (a product may be added after its
 * campaign is set up), but a typo would otherwise never show. Advisory only: the copy may lag by
 * CATALOG_MAX_STALE_SECONDS, and an experiment's other model versions are not asked.
 */
export async function putPlacement(
  deps: CatalogDeps,
  model: { ids: { has(id: string): boolean } } | null,
  name: string,
  input: Omit<StoredPlacement, 'name' | 'updatedAt'>,
  now: number,
): Promise<{ placement: StoredPlacement; unknownItems: string[] }> {
  for (const [j, b] of (input.boosts ?? []).entries()) {
    const attr = 'attribute' in b.match ? b.match.attribute.name : undefined;
    if (attr !== undefined && !deps.facetAttributes.includes(attr)) {
      throw new AppError(
        'invalid_request',
        `boosts.${j}.match.attribute: ${attr} is not a declared facet attribute (CATALOG_FACET_ATTRIBUTES: ${deps.facetAttributes.join(', ') || 'none'})`,
      );
    }
  }
  // stored as the admin wrote it (so GET shows what was PUT); read through placementRules()
  const placement: StoredPlacement = { ...input, name, updatedAt: now };
  await deps.store.putPlacement(placement);
  deps.live.applyChanges([], [{ name, placement }]);
  const named = [
    ...new Set([...(input.pins ?? []).map((p) => p.itemId), ...(input.boosts ?? []).flatMap((b) => ('ids' in b.match ? b.match.ids : []))]),
  ];
  const inModel = (id: string) => model?.ids.has(id) ?? false;
  const inCatalog = await deps.live.records(named.filter((id) => !inModel(id)));
  return { placement, unknownItems: named.filter((id) => !inModel(id) && !inCatalog.has(id)) };
}

export async function deletePlacement(deps: CatalogDeps, name: string): Promise<void> {
  const { existed } = await deps.store.deletePlacement(name);
  if (!existed) throw new AppError('placement_not_found', `no placement is named ${name}`);
  deps.live.applyChanges([], [{ name, placement: null }]);
}

export async function listPlacements(deps: CatalogDeps): Promise<StoredPlacement[]> {
  return deps.store.placements();
}

/** One placement as stored (the store's, not this isolate's possibly older copy), or placement_not_found. */
export async function getPlacement(deps: CatalogDeps, name: string): Promise<StoredPlacement> {
  const placement = await deps.store.placement(name);
  if (!placement) throw new AppError('placement_not_found', `no placement is named ${name}`);
  return placement;
}
