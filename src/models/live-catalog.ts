/**
 * This isolate's copy of the live catalogue (storage/catalog-store.ts), kept current within
 * CATALOG_MAX_STALE_SECONDS, and its binding to each model version: the per-item columns that
 * filters and boosts are computed from inside scoring.
 *
 * The copy is a log-structured view: the newest R2 snapshot (not held in memory: its parts are
 * streamed once into each model's binding and read again, one part, to describe an item) plus
 * every change after it (`overlay`, full records, in memory). An isolate refreshes in the
 * background once its copy is CATALOG_SYNC_SECONDS old and waits for the refresh once it is
 * CATALOG_MAX_STALE_SECONDS old; its own writes apply at once. When the overlay grows past
 * OVERLAY_REBASE records and a newer snapshot exists, the copy starts again from that snapshot.
 *
 * A binding holds, per item index of one model version, what filtering needs — availability and
 * deletion (flags), price (float64), category codes, declared facet attributes — about 12–20 bytes an item
 * (≈ 10 MB for 1M items), and the new items (catalogue items the model does not know, newest
 * first, at most CATALOG_MAX_NEW_ITEMS) for cold-start answers.
 */

import type { ItemFields } from '@edge-recs/core/item-fields';
import type { ItemIds } from '@edge-recs/core/item-ids';
import type { CatalogClient, CatalogRecord, PlacementRecord, SnapshotInfo } from '../storage/catalog-store';
import { partOf } from '../storage/catalog-store';
import { PromiseLru } from './lru';

/** Flag bits per item. */
export const HAS_RECORD = 1;
export const UNAVAILABLE = 2;
export const DELETED = 4;

/** Category codes kept inline per item; more go to an overflow map. */
const INLINE_CATEGORIES = 4;
/** Records per changes request. */
const PAGE = 2000;
/** Start again from a newer snapshot once this many changes accumulated. */
const OVERLAY_REBASE = 20_000;

export interface CatalogSettings {
  syncSeconds: number;
  maxStaleSeconds: number;
  newItemSeconds: number;
  maxNewItems: number;
  facetAttributes: string[];
}

/** A facet value's code key: its type and value, so the boolean true and the string "true" differ. */
export const facetKey = (v: string | number | boolean): string => `${typeof v}:${v}`;

/** The categories a record belongs to (its `category` first), without repeats. */
export function categoriesOf(r: Pick<CatalogRecord, 'category' | 'categories'>): string[] {
  const out: string[] = [];
  for (const c of [r.category, ...(r.categories ?? [])]) if (c !== undefined && !out.includes(c)) out.push(c);
  return out;
}

/** A snapshot part kept as text with the offsets of its lines by id (parsed only when asked). */
class SnapshotPart {
  private readonly lines = new Map<string, [number, number]>();
  constructor(private readonly text: string) {
    let at = 0;
    while (at < text.length) {
      let end = text.indexOf('\n', at);
      if (end < 0) end = text.length;
      // every line starts with {"id":"…" (records are written with id first)
      const m = /^\{"id":("(?:[^"\\]|\\.)*")/.exec(text.slice(at, Math.min(end, at + 600)));
      if (m) this.lines.set(JSON.parse(m[1]) as string, [at, end]);
      at = end + 1;
    }
  }
  get(id: string): CatalogRecord | null {
    const span = this.lines.get(id);
    return span ? (JSON.parse(this.text.slice(span[0], span[1])) as CatalogRecord) : null;
  }
  *records(): Iterable<CatalogRecord> {
    for (const [, [a, b]] of this.lines) yield JSON.parse(this.text.slice(a, b)) as CatalogRecord;
  }
}

/** Interns strings (category names, facet values) as small integer codes; 0 means none. */
export class Dictionary {
  private readonly codes = new Map<string, number>();
  private readonly names: string[] = [''];
  code(name: string): number {
    let c = this.codes.get(name);
    if (c === undefined) {
      c = this.names.length;
      if (c > 0xffff) throw new Error('more than 65,535 distinct values');
      this.codes.set(name, c);
      this.names.push(name);
    }
    return c;
  }
  find(name: string): number | undefined {
    return this.codes.get(name);
  }
  name(code: number): string | undefined {
    return code > 0 ? this.names[code] : undefined;
  }
}

/** The decimal an artifact's float32 price was written from (float32 keeps ~7 significant digits). */
export const decimal = (p: number) => (Number.isNaN(p) ? p : Number(p.toPrecision(7)));

/** The catalogue as one model version sees it (see the header). */
export class CatalogBinding {
  readonly flags: Uint8Array;
  /** float64: a catalogue price is the shop's decimal number, exactly as sent */
  readonly price: Float64Array;
  private readonly cats: Uint16Array;
  private readonly moreCats = new Map<number, Uint16Array>();
  readonly categories = new Dictionary();
  readonly facets = new Map<string, { values: Dictionary; codes: Uint16Array }>();
  /** catalogue items the model does not know (not deleted), by id */
  readonly newItems = new Map<string, CatalogRecord>();
  /** increases with every change: plans built from an older state are rebuilt */
  version = 0;
  /** items of the model marked unavailable or deleted */
  private flagged = 0;

  /**
   * @param base  what the artifact says about each item (price, category, availability): the
   *              starting point, and what a catalogue record that leaves a field out falls back to
   */
  constructor(
    readonly ids: ItemIds,
    private readonly settings: CatalogSettings,
    private readonly base: ItemFields | null = null,
  ) {
    const n = ids.count;
    this.flags = new Uint8Array(n);
    this.price = new Float64Array(n).fill(Number.NaN);
    this.cats = new Uint16Array(n * INLINE_CATEGORIES);
    for (const a of settings.facetAttributes) this.facets.set(a, { values: new Dictionary(), codes: new Uint16Array(n) });
    if (base) {
      for (let i = 0; i < n; i++) {
        this.price[i] = decimal(base.price[i]);
        const c = base.category[i];
        if (c > 0) this.cats[i * INLINE_CATEGORIES] = this.categories.code(base.categories[c - 1]);
        if (base.available[i] === 0) {
          this.flags[i] = UNAVAILABLE;
          this.flagged++;
        }
      }
    }
  }

  /** Whether any item of the model is unavailable or deleted (else an empty filter filters nothing). */
  get hasFlags(): boolean {
    return this.flagged > 0;
  }

  /** Category codes of item `index`. */
  categoryCodes(index: number): ArrayLike<number> {
    const more = this.moreCats.get(index);
    if (more) return more;
    const at = index * INLINE_CATEGORIES;
    let n = 0;
    while (n < INLINE_CATEGORIES && this.cats[at + n] !== 0) n++;
    return this.cats.subarray(at, at + n);
  }

  /** Applies one record (a full state, so applying it twice changes nothing). */
  apply(r: CatalogRecord): void {
    this.version++;
    const index = this.ids.indexOf(r.id);
    if (index === undefined) {
      // a record without a title (one created for an item an earlier model knew) is no product a list can name
      if (r.deleted || !r.title) this.newItems.delete(r.id);
      else {
        this.newItems.delete(r.id); // re-insert: the map stays in update order
        this.newItems.set(r.id, r);
        if (this.newItems.size > this.settings.maxNewItems) this.evictOldestNew();
      }
      return;
    }
    const before = this.flags[index];
    const base = this.base;
    const available = r.available ?? (base ? base.available[index] !== 0 : true);
    const after = HAS_RECORD | (r.deleted ? DELETED : 0) | (available ? 0 : UNAVAILABLE);
    this.flagged += Number((after & (DELETED | UNAVAILABLE)) !== 0) - Number((before & (DELETED | UNAVAILABLE)) !== 0);
    this.flags[index] = after;
    this.price[index] = r.price ?? (base ? decimal(base.price[index]) : Number.NaN);
    const baseCategory = base && base.category[index] > 0 ? [base.categories[base.category[index] - 1]] : [];
    const named = categoriesOf(r);
    const codes = (named.length ? named : baseCategory).map((c) => this.categories.code(c));
    this.cats.fill(0, index * INLINE_CATEGORIES, (index + 1) * INLINE_CATEGORIES);
    if (codes.length > INLINE_CATEGORIES) this.moreCats.set(index, Uint16Array.from(codes));
    else {
      this.moreCats.delete(index);
      this.cats.set(codes, index * INLINE_CATEGORIES);
    }
    for (const [attr, facet] of this.facets) {
      const v = r.attributes?.[attr];
      facet.codes[index] = v === undefined ? 0 : facet.values.code(facetKey(v));
    }
  }

  private evictOldestNew(): void {
    let oldest: string | undefined;
    let at = Number.POSITIVE_INFINITY;
    for (const [id, r] of this.newItems) if (r.createdAt < at) [oldest, at] = [id, r.createdAt];
    if (oldest !== undefined) this.newItems.delete(oldest);
  }

  /**
   * The new items held (the newest CATALOG_MAX_NEW_ITEMS the model does not know), newest first:
   * `which` = "fresh" those still young enough to count as new (CATALOG_NEW_ITEM_SECONDS: promoted
   * to every fourth place and exploration slots), "aged" the older ones (still sellable: they fill
   * places, shelves, content relations and boosts name them), "all" both.
   */
  heldNewItems(now: number, which: 'fresh' | 'aged' | 'all' = 'fresh'): CatalogRecord[] {
    const since = now - this.settings.newItemSeconds * 1000;
    const keep = (r: CatalogRecord) => which === 'all' || r.createdAt >= since === (which === 'fresh');
    return [...this.newItems.values()].filter(keep).sort((a, b) => b.createdAt - a.createdAt);
  }
}

/** What describing an item needs from the copy. */
export interface CatalogView {
  /** the item's catalogue record (tombstones included), or null when the catalogue has none */
  record(id: string): Promise<CatalogRecord | null>;
  /** records of several items, in one pass over the parts they need */
  records(ids: readonly string[]): Promise<Map<string, CatalogRecord>>;
  placement(name: string): PlacementRecord | undefined;
  placementNames(): string[];
  /** the binding for a model version (built on first use) */
  binding(model: { ids: ItemIds; version: string; fields: ItemFields | null }): Promise<CatalogBinding>;
}

export class LiveCatalog implements CatalogView {
  private seq = 0;
  private syncedAt = 0;
  private snapshot: SnapshotInfo | null = null;
  private loaded: Promise<void> | null = null;
  private syncing: Promise<void> | null = null;
  private readonly overlay = new Map<string, CatalogRecord>();
  private readonly placements = new Map<string, PlacementRecord>();
  private readonly parts = new PromiseLru<number, SnapshotPart | null>(32);
  private readonly bindings = new PromiseLru<string, CatalogBinding>(2);

  constructor(
    private client: CatalogClient,
    private settings: CatalogSettings,
  ) {}

  /** The client and settings come with each request's environment; the copy stays. */
  use(client: CatalogClient, settings: CatalogSettings): this {
    this.client = client;
    this.settings = settings;
    return this;
  }

  /** Makes the copy fresh enough to answer (see the header); `defer` runs a refresh after the response. */
  async ensureFresh(defer: (p: Promise<unknown>) => void, now = Date.now()): Promise<void> {
    const settings = this.settings;
    this.loaded ??= this.load().catch((err) => {
      this.loaded = null;
      throw err;
    });
    await this.loaded;
    const age = now - this.syncedAt;
    if (age >= settings.maxStaleSeconds * 1000) await this.sync();
    else if (age >= settings.syncSeconds * 1000) defer(this.sync().catch((err) => console.error(`catalogue sync failed: ${String(err)}`)));
  }

  private async load(): Promise<void> {
    // A snapshot holds items only: placements (a handful of small records) come whole from the
    // store, read before the changes since the snapshot so that a later change (an edit or a
    // delete) is applied over them.
    const [status, placements] = await Promise.all([this.client.status(), this.client.placements()]);
    this.snapshot = status.snapshot;
    this.seq = status.snapshot?.seq ?? 0;
    this.overlay.clear();
    this.parts.clear();
    this.bindings.clear();
    this.placements.clear();
    for (const p of placements) this.placements.set(p.name, p);
    await this.pull();
  }

  /** Fetches the changes since the copy's sequence number (one request per page). */
  sync(): Promise<void> {
    this.syncing ??= (async () => {
      try {
        if (this.overlay.size > OVERLAY_REBASE) {
          const status = await this.client.status();
          if (status.snapshot && status.snapshot.seq > (this.snapshot?.seq ?? 0)) {
            this.loaded = this.load();
            return this.loaded;
          }
        }
        await this.pull();
      } finally {
        this.syncing = null;
      }
    })();
    return this.syncing;
  }

  private async pull(): Promise<void> {
    const started = Date.now();
    for (let page = 0; page < 50; page++) {
      const changes = await this.client.changesSince(this.seq, PAGE);
      this.applyChanges(changes.items, changes.placements, changes.seq);
      if (!changes.more) break;
    }
    this.syncedAt = started;
  }

  /**
   * Applies records (and placements): from a sync, which brings the copy up to `seq`, or from this
   * isolate's own write (no `seq`: changes between the copy's number and the write's are not
   * here yet, so the number stays and the next sync brings them, and the write again — records
   * are full states, so applying one twice changes nothing).
   */
  applyChanges(
    all: readonly CatalogRecord[],
    placements: readonly { name: string; placement: PlacementRecord | null }[],
    seq?: number,
  ): void {
    // a sync that started before this isolate's own write may bring an older state: keep the newer
    const items = all.filter((r) => (this.overlay.get(r.id)?.seq ?? -1) < (r.seq ?? 0) || !this.overlay.has(r.id));
    for (const r of items) this.overlay.set(r.id, r);
    for (const p of placements) {
      if (p.placement) this.placements.set(p.name, p.placement);
      else this.placements.delete(p.name);
    }
    for (const key of this.bindings.keys()) {
      void this.bindings.peek(key)?.then((b) => {
        for (const r of items) b.apply(r);
      });
    }
    if (seq !== undefined) this.seq = Math.max(this.seq, seq);
  }

  private part(n: number): Promise<SnapshotPart | null> {
    const snap = this.snapshot;
    if (!snap) return Promise.resolve(null);
    return this.parts.get(n, async () => {
      const text = await this.client.readPart(snap.seq, n);
      return text === null ? null : new SnapshotPart(text);
    });
  }

  async record(id: string): Promise<CatalogRecord | null> {
    const own = this.overlay.get(id);
    if (own) return own;
    if (!this.snapshot) return null;
    return (await this.part(partOf(id, this.snapshot.parts)))?.get(id) ?? null;
  }

  async records(ids: readonly string[]): Promise<Map<string, CatalogRecord>> {
    const out = new Map<string, CatalogRecord>();
    const need = new Map<number, string[]>();
    for (const id of ids) {
      const own = this.overlay.get(id);
      if (own) out.set(id, own);
      else if (this.snapshot) {
        const p = partOf(id, this.snapshot.parts);
        need.set(p, [...(need.get(p) ?? []), id]);
      }
    }
    await Promise.all(
      [...need].map(async ([p, list]) => {
        const part = await this.part(p);
        for (const id of list) {
          const r = part?.get(id);
          if (r) out.set(id, r);
        }
      }),
    );
    return out;
  }

  placement(name: string): PlacementRecord | undefined {
    return this.placements.get(name);
  }

  placementNames(): string[] {
    return [...this.placements.keys()].sort();
  }

  binding(model: { ids: ItemIds; version: string; fields: ItemFields | null }): Promise<CatalogBinding> {
    return this.bindings.get(model.version, async () => {
      const b = new CatalogBinding(model.ids, this.settings, model.fields);
      const snap = this.snapshot;
      if (snap) {
        // stream the snapshot's parts (a few in parallel), then the changes since
        const order = Array.from({ length: snap.parts }, (_, p) => p);
        for (let i = 0; i < order.length; i += 8) {
          const texts = await Promise.all(order.slice(i, i + 8).map((p) => this.client.readPart(snap.seq, p)));
          for (const t of texts) if (t) for (const r of new SnapshotPart(t).records()) if (!this.overlay.has(r.id)) b.apply(r);
        }
      }
      for (const r of this.overlay.values()) b.apply(r);
      return b;
    });
  }
}
