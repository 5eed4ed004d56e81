/**
 * The live catalogue and the merchandising placements: the shop's source of truth at the edge.
 *
 * Why a Durable Object: a batch of item updates must apply all-or-nothing, every isolate must
 * see an update within a bound, and a catalogue takes thousands of updates a minute. One object
 * (named "catalog") holds every item record and placement in its SQLite storage; a batch is one
 * transaction, and every change takes the next sequence number, so an isolate keeps its copy
 * current by asking for "changes since n" (storage/catalog-store.ts → models/live-catalog.ts).
 *
 * Snapshots: every CATALOG_SNAPSHOT_SECONDS, when anything changed, the object's alarm writes
 * the whole catalogue to R2 as JSON-lines parts, items spread over the parts by a hash of their
 * id (catalog/snapshots/<seq>/NNNN.jsonl, and manifest.json). An isolate starts from the newest
 * snapshot (parts read in parallel, one R2 read each) and then the changes after it, and reads a
 * part again to describe an item it no longer holds. Tombstones (deleted items) are kept, so a
 * deleted item the model knows stays out of every answer.
 *
 * Costs (see README "Catalogue"): a PUT of ≤ CATALOG_MAX_BATCH items is one object request and
 * one SQLite transaction; an isolate's sync is one request per CATALOG_SYNC_SECONDS while it
 * serves traffic; a snapshot is one alarm run of ≤ 512 part writes.
 */

import { DurableObject } from 'cloudflare:workers';
import { fnv1a } from '@edge-recs/core/hash';
import { configFrom } from '../config';
import type { StoredPlacement } from '../schemas';
import { DO, R2 } from './keys';

export type AttributeValue = string | number | boolean;

/** An item as the catalogue holds it (fields the shop never set are absent). */
export interface CatalogRecord {
  id: string;
  title?: string;
  category?: string;
  categories?: string[];
  price?: number;
  currency?: string;
  available?: boolean;
  imageUrl?: string;
  attributes?: Record<string, AttributeValue>;
  /** first seen (ms) */
  createdAt: number;
  updatedAt: number;
  /** removed from every answer (DELETE /v1/items/{id}) */
  deleted?: true;
  /** the change number that wrote this state (a copy never replaces a newer state with an older) */
  seq?: number;
}

/** An upsert: fields given replace, fields left out are kept, null clears a field. */
export type CatalogPatch = { id: string } & {
  [K in Exclude<keyof CatalogRecord, 'id' | 'createdAt' | 'updatedAt' | 'deleted' | 'seq'>]?: CatalogRecord[K] | null;
};

/**
 * Why a patch of an item the caller's model does not know was refused for want of a title:
 * - `unknown`: the catalogue has no record of it (a new product, or a mistyped id);
 * - `deleted`: its record was deleted, and re-creating it starts from nothing;
 * - `cleared`: it has a title (in the catalogue, or from an earlier patch of the batch) and the patch sets it to null;
 * - `untitled`: its record has no title (it was created while a model knew the id) and the patch gives none.
 */
export type TitleRefusal = 'unknown' | 'deleted' | 'cleared' | 'untitled';

/** What an upsert did, or the patch it refused (then it wrote nothing). */
export type UpsertResult =
  | { seq: number; created: number; updated: number; records: CatalogRecord[]; refused?: undefined }
  | { refused: { index: number; id: string; reason: TitleRefusal } };

/** A named placement's rules as the admin wrote them (validated by the route; services/merchandising.ts gives their meaning). */
export type PlacementRecord = StoredPlacement;

export interface SnapshotInfo {
  /** changes up to this sequence number are in the snapshot */
  seq: number;
  parts: number;
  items: number;
  createdAt: number;
}

export interface Changes {
  /** the sequence number these changes bring a copy to */
  seq: number;
  items: CatalogRecord[];
  placements: { name: string; placement: PlacementRecord | null }[];
  /** more changes follow (ask again from `seq`) */
  more: boolean;
}

/** Fine buckets an id hashes into; a snapshot's parts each cover a power-of-two run of them. */
export const BUCKETS = 4096;
/** Items per snapshot part, roughly; parts are a power of two, at most MAX_PARTS. */
const ITEMS_PER_PART = 1000;
const MAX_PARTS = 512;

export const bucketOf = (id: string) => fnv1a(id) % BUCKETS;
export const partOf = (id: string, parts: number) => Math.floor(bucketOf(id) / (BUCKETS / parts));

export function partsFor(items: number): number {
  let parts = 1;
  while (parts < MAX_PARTS && parts * ITEMS_PER_PART < items) parts *= 2;
  return parts;
}

/** Applies a patch to a record (or creates one). */
export function applyPatch(existing: CatalogRecord | null, patch: CatalogPatch, now: number): CatalogRecord {
  const base: CatalogRecord =
    existing && !existing.deleted ? { ...existing } : { id: patch.id, createdAt: existing?.createdAt ?? now, updatedAt: now };
  const out = base as unknown as Record<string, unknown>;
  for (const [k, v] of Object.entries(patch)) {
    if (k === 'id' || v === undefined) continue;
    if (v === null) delete out[k];
    else out[k] = v;
  }
  base.updatedAt = now;
  delete base.deleted;
  return base;
}

type Row = { id: string; record: string; seq: number };

export class CatalogStore extends DurableObject<Env> {
  private seq = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.blockConcurrencyWhile(async () => {
      const sql = ctx.storage.sql;
      sql.exec(
        `CREATE TABLE IF NOT EXISTS items (id TEXT PRIMARY KEY, record TEXT NOT NULL, seq INTEGER NOT NULL, bucket INTEGER NOT NULL)`,
      );
      sql.exec(`CREATE INDEX IF NOT EXISTS items_seq ON items (seq)`);
      sql.exec(`CREATE INDEX IF NOT EXISTS items_bucket ON items (bucket)`);
      sql.exec(`CREATE TABLE IF NOT EXISTS placements (name TEXT PRIMARY KEY, placement TEXT, seq INTEGER NOT NULL)`);
      sql.exec(`CREATE INDEX IF NOT EXISTS placements_seq ON placements (seq)`);
      sql.exec(`CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`);
      this.seq = Number(this.meta('seq') ?? 0);
    });
  }

  private meta(key: string): string | null {
    const rows = this.ctx.storage.sql.exec<{ value: string }>(`SELECT value FROM meta WHERE key = ?`, key).toArray();
    return rows[0]?.value ?? null;
  }

  private setMeta(key: string, value: string): void {
    this.ctx.storage.sql.exec(`INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)`, key, value);
  }

  private read(id: string): CatalogRecord | null {
    const rows = this.ctx.storage.sql.exec<{ record: string }>(`SELECT record FROM items WHERE id = ?`, id).toArray();
    return rows.length ? (JSON.parse(rows[0].record) as CatalogRecord) : null;
  }

  private write(record: CatalogRecord): void {
    this.seq++;
    record.seq = this.seq;
    this.ctx.storage.sql.exec(
      `INSERT OR REPLACE INTO items (id, record, seq, bucket) VALUES (?, ?, ?, ?)`,
      record.id,
      JSON.stringify(record),
      this.seq,
      bucketOf(record.id),
    );
  }

  private async changed(): Promise<void> {
    this.setMeta('seq', String(this.seq));
    if ((await this.ctx.storage.getAlarm()) === null) {
      await this.ctx.storage.setAlarm(Date.now() + configFrom(this.env).catalog.snapshotSeconds * 1000);
    }
  }

  /**
   * Applies a batch in one transaction: every patch or none. Returns the merged records — or,
   * writing nothing, the first patch that would leave an item without a title although it is
   * listed in `untitledUnknown` (ids the caller's model does not know: such a patch is a new
   * product, or a mistyped id in an update, and must not become a nameless product), and why.
   */
  async upsert(patches: CatalogPatch[], now: number, untitledUnknown: string[] = []): Promise<UpsertResult> {
    const needTitle = new Set(untitledUnknown);
    // each such item as the patches so far leave it (a batch may create an item and update it
    // again; a later patch may not clear the title of an item only the catalogue knows)
    const state = new Map<string, { exists: 'live' | 'deleted' | 'none'; titled: boolean }>();
    for (const [index, patch] of patches.entries()) {
      if (!needTitle.has(patch.id)) continue;
      let before = state.get(patch.id);
      if (before === undefined) {
        const existing = this.read(patch.id);
        before =
          existing === null
            ? { exists: 'none', titled: false }
            : existing.deleted
              ? { exists: 'deleted', titled: false }
              : { exists: 'live', titled: Boolean(existing.title) };
      }
      const titled = patch.title === undefined ? before.titled : patch.title !== null;
      if (!titled) {
        const reason: TitleRefusal =
          before.exists === 'none'
            ? 'unknown'
            : before.exists === 'deleted'
              ? 'deleted'
              : before.titled && patch.title === null
                ? 'cleared'
                : 'untitled';
        return { refused: { index, id: patch.id, reason } };
      }
      state.set(patch.id, { exists: 'live', titled });
    }
    let created = 0;
    const records = this.ctx.storage.transactionSync(() =>
      patches.map((patch) => {
        const existing = this.read(patch.id);
        if (!existing || existing.deleted) created++;
        const record = applyPatch(existing, patch, now);
        this.write(record);
        return record;
      }),
    );
    await this.changed();
    return { seq: this.seq, created, updated: patches.length - created, records };
  }

  /** Removes an item from every answer (a tombstone, so copies learn of it). */
  async remove(id: string, now: number): Promise<{ seq: number; alreadyDeleted: boolean; record: CatalogRecord }> {
    const existing = this.read(id);
    // already deleted (another isolate's copy had not seen it yet): nothing to write
    if (existing?.deleted) return { seq: this.seq, alreadyDeleted: true, record: existing };
    const record: CatalogRecord = { id, createdAt: existing?.createdAt ?? now, updatedAt: now, deleted: true };
    this.write(record);
    await this.changed();
    return { seq: this.seq, alreadyDeleted: false, record };
  }

  async get(id: string): Promise<CatalogRecord | null> {
    return this.read(id);
  }

  async putPlacement(placement: PlacementRecord): Promise<number> {
    this.seq++;
    this.ctx.storage.sql.exec(
      `INSERT OR REPLACE INTO placements (name, placement, seq) VALUES (?, ?, ?)`,
      placement.name,
      JSON.stringify(placement),
      this.seq,
    );
    await this.changed();
    return this.seq;
  }

  /** Deletes a placement; false when there was none. */
  async deletePlacement(name: string): Promise<{ seq: number; existed: boolean }> {
    const existed =
      this.ctx.storage.sql.exec(`SELECT name FROM placements WHERE name = ? AND placement IS NOT NULL`, name).toArray().length > 0;
    if (existed) {
      this.seq++;
      this.ctx.storage.sql.exec(`UPDATE placements SET placement = NULL, seq = ? WHERE name = ?`, this.seq, name);
      await this.changed();
    }
    return { seq: this.seq, existed };
  }

  /** Item and placement changes after `since`, oldest first, at most `limit` items. */
  async changesSince(since: number, limit: number): Promise<Changes> {
    const sql = this.ctx.storage.sql;
    const rows = sql.exec<Row>(`SELECT id, record, seq FROM items WHERE seq > ? ORDER BY seq LIMIT ?`, since, limit + 1).toArray();
    const more = rows.length > limit;
    const items = rows.slice(0, limit);
    const upTo = more ? items[items.length - 1].seq : this.seq;
    const placements = sql
      .exec<{ name: string; placement: string | null }>(`SELECT name, placement FROM placements WHERE seq > ? AND seq <= ?`, since, upTo)
      .toArray()
      .map((p) => ({ name: p.name, placement: p.placement === null ? null : (JSON.parse(p.placement) as PlacementRecord) }));
    return { seq: upTo, items: items.map((r) => JSON.parse(r.record) as CatalogRecord), placements, more };
  }

  /** The newest sequence number and the newest snapshot (null before the first). */
  async status(): Promise<{ seq: number; snapshot: SnapshotInfo | null }> {
    const snap = this.meta('snapshot');
    return { seq: this.seq, snapshot: snap ? (JSON.parse(snap) as SnapshotInfo) : null };
  }

  /** One placement (null: none is named so), for the admin read. */
  async placement(name: string): Promise<PlacementRecord | null> {
    const rows = this.ctx.storage.sql
      .exec<{ placement: string }>(`SELECT placement FROM placements WHERE name = ? AND placement IS NOT NULL`, name)
      .toArray();
    return rows.length ? (JSON.parse(rows[0].placement) as PlacementRecord) : null;
  }

  /** Every placement, for the admin listing. */
  async placements(): Promise<PlacementRecord[]> {
    return this.ctx.storage.sql
      .exec<{ placement: string }>(`SELECT placement FROM placements WHERE placement IS NOT NULL ORDER BY name`)
      .toArray()
      .map((p) => JSON.parse(p.placement) as PlacementRecord);
  }

  override async alarm(): Promise<void> {
    const previous = this.meta('snapshot');
    const last = previous ? (JSON.parse(previous) as SnapshotInfo) : null;
    if (last?.seq === this.seq) return;
    await this.writeSnapshot(last);
  }

  /** Writes the catalogue to R2 as parts, then its manifest, then deletes the snapshot before last. */
  async writeSnapshot(last: SnapshotInfo | null = null): Promise<SnapshotInfo> {
    const sql = this.ctx.storage.sql;
    const seq = this.seq;
    const items = sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM items`).one().n;
    const parts = partsFor(items);
    const span = BUCKETS / parts;
    for (let p = 0; p < parts; p++) {
      const rows = sql
        .exec<{ record: string }>(`SELECT record FROM items WHERE bucket >= ? AND bucket < ? ORDER BY id`, p * span, (p + 1) * span)
        .toArray();
      await this.env.MODELS.put(R2.catalogSnapshotPart(seq, p), rows.map((r) => r.record).join('\n'));
    }
    const info: SnapshotInfo = { seq, parts, items, createdAt: Date.now() };
    await this.env.MODELS.put(R2.catalogSnapshotManifest(seq), JSON.stringify(info));
    this.setMeta('snapshot', JSON.stringify(info));
    // keep the previous snapshot (isolates may still be reading it); delete older ones
    const keep = new Set([seq, last?.seq]);
    const listed = await this.env.MODELS.list({ prefix: R2.catalogSnapshots, delimiter: '/' });
    for (const prefix of listed.delimitedPrefixes) {
      const s = Number(prefix.slice(R2.catalogSnapshots.length, -1));
      if (keep.has(s)) continue;
      let cursor: string | undefined;
      do {
        const page = await this.env.MODELS.list({ prefix, cursor });
        if (page.objects.length) await this.env.MODELS.delete(page.objects.map((o) => o.key));
        cursor = page.truncated ? page.cursor : undefined;
      } while (cursor);
    }
    return info;
  }
}

/** The catalogue store as services and the isolate's copy use it. */
export interface CatalogClient {
  upsert(patches: CatalogPatch[], now: number, untitledUnknown?: string[]): Promise<UpsertResult>;
  remove(id: string, now: number): Promise<{ seq: number; alreadyDeleted: boolean; record: CatalogRecord }>;
  get(id: string): Promise<CatalogRecord | null>;
  changesSince(since: number, limit: number): Promise<Changes>;
  status(): Promise<{ seq: number; snapshot: SnapshotInfo | null }>;
  putPlacement(placement: PlacementRecord): Promise<number>;
  deletePlacement(name: string): Promise<{ seq: number; existed: boolean }>;
  placements(): Promise<PlacementRecord[]>;
  placement(name: string): Promise<PlacementRecord | null>;
  /** a snapshot part's text, or null */
  readPart(seq: number, part: number): Promise<string | null>;
}

export function catalogClient(ns: DurableObjectNamespace<CatalogStore>, bucket: R2Bucket): CatalogClient {
  const stub = () => ns.get(ns.idFromName(DO.catalog));
  return {
    upsert: (patches, now, untitledUnknown) => stub().upsert(patches, now, untitledUnknown),
    remove: (id, now) => stub().remove(id, now),
    get: (id) => stub().get(id),
    changesSince: (since, limit) => stub().changesSince(since, limit),
    status: () => stub().status(),
    putPlacement: (p) => stub().putPlacement(p),
    deletePlacement: (name) => stub().deletePlacement(name),
    placements: () => stub().placements(),
    placement: (name) => stub().placement(name),
    async readPart(seq, part) {
      const obj = await bucket.get(R2.catalogSnapshotPart(seq, part));
      return obj ? obj.text() : null;
    },
  };
}
