/**
 * A small bounded cache of in-flight or settled promises, least recently used first (Map order).
 * Used for per-isolate model versions and user shards: concurrent requests share one load, a
 * failed load is forgotten so the next request retries, and memory stays bounded.
 */
export class PromiseLru<K, V> {
  private readonly entries = new Map<K, Promise<V>>();

  constructor(private readonly max: number) {}

  get size(): number {
    return this.entries.size;
  }

  clear(): void {
    this.entries.clear();
  }

  delete(key: K): void {
    this.entries.delete(key);
  }

  /** The entry for `key` without touching its recency (undefined when absent). */
  peek(key: K): Promise<V> | undefined {
    return this.entries.get(key);
  }

  /** least recently used first */
  keys(): K[] {
    return [...this.entries.keys()];
  }

  get(key: K, create: () => Promise<V>): Promise<V> {
    let entry = this.entries.get(key);
    if (entry) {
      this.entries.delete(key);
      this.entries.set(key, entry);
      return entry;
    }
    entry = create();
    const created = entry;
    // forget a failure, but only if this very entry is still the cached one
    created.catch(() => {
      if (this.entries.get(key) === created) this.entries.delete(key);
    });
    this.entries.set(key, created);
    for (const oldest of this.entries.keys()) {
      if (this.entries.size <= this.max) break;
      this.entries.delete(oldest);
    }
    return created;
  }
}
