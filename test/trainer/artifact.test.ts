/** The model artifact: a round trip through disk, and every kind of tampering detected. */
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { quantizeRows } from '@edge-recs/core/int8';
import { ItemIds } from '@edge-recs/core/item-ids';
import { FILES, type Manifest } from '@edge-recs/core/manifest';
import { decodeShard, shardOf } from '@edge-recs/core/shards';
import { generateSigningKey } from '@edge-recs/core/signing';
import { beforeAll, describe, expect, it } from 'vitest';
import type { ArtifactInput } from '../../model/artifact';
import { publishOrder, verifyArtifactDir, writeArtifact } from '../../model/artifact-fs';
import { readCatalog } from '../../model/catalog';
import { DEFAULT_PARAMS, trainIals } from '../../model/ials';
import { csrFromTriples } from '../../model/sparse';

const params = {
  ...DEFAULT_PARAMS,
  factors: 6,
  iterations: 4,
  regularization: 1,
  regExponent: 0,
  unobservedWeight: 1,
  popularityExponent: 0,
};
const m = csrFromTriples(
  5,
  4,
  Int32Array.from([0, 0, 1, 2, 3, 4, 4]),
  Int32Array.from([0, 1, 1, 2, 3, 0, 3]),
  Float32Array.from([1, 2, 1, 1, 3, 1, 1]),
);
const model = trainIals(m, params);
const userIds = ['alice', 'bob', 'carol', 'dave', 'erin'];

async function write(dir: string, signingKey?: string, change: Partial<ArtifactInput> = {}): Promise<Manifest> {
  return writeArtifact(dir, {
    algorithm: 'ials',
    hyperparameters: { ...params },
    foldIn: { unobservedWeight: 1, alpha: 1, regularization: 1, regExponent: 0 },
    data: { source: 'unit', layout: 'generic', sha256: 'ab'.repeat(32), users: 5, items: 4, interactions: 7 },
    dims: 6,
    itemIds: ['i0', 'i1', 'i2', 'i3'],
    titles: ['Zero', 'One', 'Two', 'Three'],
    itemCounts: [2, 2, 1, 2],
    itemFactors: model.itemFactors,
    itemWeights: model.itemWeights,
    userIds,
    userFactors: model.userFactors,
    userItems: m,
    evaluation: null,
    signingKey,
    usersPerShard: 2,
    ...change,
  });
}

describe('artifact round trip', () => {
  let dir: string;
  let key: Awaited<ReturnType<typeof generateSigningKey>>;
  let manifest: Manifest;
  beforeAll(async () => {
    key = await generateSigningKey();
    dir = await mkdtemp(join(tmpdir(), 'artifact-'));
    manifest = await write(dir, key.privateKeyPkcs8);
  });

  it('describes itself: hyperparameters, data digest, shapes, dtypes and every file', async () => {
    expect(manifest).toMatchObject({ formatVersion: 2, dims: 6, itemCount: 4, userCount: 5, userShards: 3 });
    expect(manifest.trainer.hyperparameters.factors).toBe(6);
    expect(manifest.data.sha256).toBe('ab'.repeat(32));
    const names = Object.keys(manifest.files).sort();
    expect(names).toEqual(
      [
        FILES.itemIds,
        FILES.popular,
        FILES.catalogPart(0),
        FILES.factorPart(0),
        FILES.gram,
        FILES.itemFactors,
        FILES.itemWeights,
        FILES.scorer,
        'users/0000.bin',
        'users/0001.bin',
        'users/0002.bin',
      ].sort(),
    );
    expect(manifest.files[FILES.factorPart(0)].bytes).toBe(4 * 6 + 4 * 4);
    expect(manifest.files[FILES.itemFactors].bytes).toBe(4 * 6 * 4);
  });

  it('verifies cleanly with the right public key', async () => {
    expect((await verifyArtifactDir(dir, [key.publicKeyRaw])).problems).toEqual([]);
  });

  it('reads back factors, catalog and each user from the shard their id hashes to', async () => {
    const factors = new Float32Array((await readFile(join(dir, FILES.itemFactors))).buffer.slice(0));
    expect(Array.from(factors)).toEqual(Array.from(model.itemFactors));
    const files = Object.fromEntries(
      await Promise.all([FILES.itemIds, FILES.popular, FILES.catalogPart(0)].map(async (f) => [f, await readFile(join(dir, f))] as const)),
    );
    const catalog = readCatalog(files);
    expect(catalog.ids).toEqual(['i0', 'i1', 'i2', 'i3']);
    expect(catalog.titles).toEqual(['Zero', 'One', 'Two', 'Three']);
    expect(catalog.counts).toEqual([2, 2, 1, 2]);
    expect(catalog.popularity[catalog.popularity.length - 1]).toBe(2); // least bought item last
    for (const [u, id] of userIds.entries()) {
      const buf = await readFile(join(dir, FILES.userShard(shardOf(id, 3))));
      const shard = decodeShard(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength));
      const j = shard.ids.indexOf(id);
      expect(j).toBeGreaterThanOrEqual(0);
      expect(Array.from(shard.vectors.slice(j * 6, j * 6 + 6))).toEqual(Array.from(model.userFactors.slice(u * 6, u * 6 + 6)));
      expect(Array.from(shard.historyItems.slice(shard.historyPtr[j], shard.historyPtr[j + 1]))).toEqual(
        Array.from(m.colIdx.slice(m.rowPtr[u], m.rowPtr[u + 1])),
      );
    }
  });

  it('quantises factors to int8 with a per-row scale within half a step', () => {
    const { q, scales } = quantizeRows(model.itemFactors, 4, 6);
    for (let k = 0; k < q.length; k++)
      expect(Math.abs(q[k] * scales[Math.floor(k / 6)] - model.itemFactors[k])).toBeLessThanOrEqual(scales[Math.floor(k / 6)] / 2 + 1e-7);
  });

  it('refuses to write a catalogue the edge could not score: too big for float32, dims the int8 kernel cannot take', async () => {
    const dir2 = await mkdtemp(join(tmpdir(), 'unservable-'));
    await expect(
      writeArtifact(dir2, {
        algorithm: 'ials',
        hyperparameters: {},
        foldIn: { unobservedWeight: 1, alpha: 1, regularization: 1, regExponent: 0 },
        data: { source: 'unit', layout: 'generic', sha256: 'ab'.repeat(32), users: 5, items: 4, interactions: 7 },
        dims: 6,
        itemIds: ['i0', 'i1', 'i2', 'i3'],
        titles: ['a', 'b', 'c', 'd'],
        itemCounts: [1, 1, 1, 1],
        itemFactors: model.itemFactors,
        itemWeights: model.itemWeights,
        userIds,
        userFactors: model.userFactors,
        userItems: m,
        float32MaxBytes: 0,
      }),
    ).rejects.toThrow(/multiple of 16.*--factors 16/);
  });

  it('refuses ids the Worker could not serve: an item id twice (as its loader says), a user id twice', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'repeat-'));
    expect(() => ItemIds.encode(['a', 'b', 'a'])).toThrow('item_ids.txt repeats the id a (lines 1 and 3)');
    await expect(write(dir, undefined, { itemIds: ['i0', 'i1', 'i0', 'i3'] })).rejects.toThrow(/repeats the id i0/);
    await expect(write(dir, undefined, { userIds: ['alice', 'bob', 'carol', 'bob', 'erin'] })).rejects.toThrow(
      'user id "bob" appears twice (users 1 and 3): each user has one vector',
    );
  });

  it('gives two artifacts of the same minute different versions when anything in them differs', async () => {
    const createdAt = new Date('2026-01-02T03:04:05Z');
    const versionOf = async (change: Partial<ArtifactInput>) =>
      (await write(await mkdtemp(join(tmpdir(), 'version-')), undefined, { createdAt, ...change })).version;
    const same = await versionOf({});
    expect(same).toMatch(/^2026-01-02-0304Z-[0-9a-f]{8}$/);
    expect(await versionOf({})).toBe(same);
    // the item factors are the same in each of these
    expect(await versionOf({ titles: ['Zero', 'One', 'Two', 'Four'] })).not.toBe(same);
    expect(await versionOf({ hyperparameters: { ...params, alpha: 2 } })).not.toBe(same);
    expect(await versionOf({ userFactors: model.userFactors.map((v) => v + 1) })).not.toBe(same);
  });

  it('lists files in publish order: data, then signature, then manifest', async () => {
    const order = await publishOrder(dir);
    expect(order.slice(-2)).toEqual(['manifest.sig', 'manifest.json']);
    expect(order).toHaveLength(Object.keys(manifest.files).length + 2);
  });
});

describe('tampering is detected', () => {
  async function fresh() {
    const key = await generateSigningKey();
    const dir = await mkdtemp(join(tmpdir(), 'tamper-'));
    await write(dir, key.privateKeyPkcs8);
    return { dir, key };
  }

  it('a changed data file', async () => {
    const { dir, key } = await fresh();
    const bytes = await readFile(join(dir, FILES.itemFactors));
    bytes[0] ^= 1;
    await writeFile(join(dir, FILES.itemFactors), bytes);
    expect((await verifyArtifactDir(dir, [key.publicKeyRaw])).problems).toEqual([
      `${FILES.itemFactors} sha256 does not match the manifest`,
    ]);
  });

  it('a truncated or missing file', async () => {
    const { dir, key } = await fresh();
    const bytes = await readFile(join(dir, FILES.gram));
    await writeFile(join(dir, FILES.gram), bytes.subarray(0, 10));
    const { rm } = await import('node:fs/promises');
    await rm(join(dir, 'users/0001.bin'));
    const problems = (await verifyArtifactDir(dir, [key.publicKeyRaw])).problems;
    expect(problems).toContain(`${FILES.gram} has 10 bytes, manifest says ${bytes.byteLength}`);
    expect(problems).toContain('users/0001.bin is missing');
  });

  it('an edited manifest (signature no longer matches)', async () => {
    const { dir, key } = await fresh();
    const text = await readFile(join(dir, 'manifest.json'), 'utf8');
    await writeFile(join(dir, 'manifest.json'), text.replace('"itemCount": 4', '"itemCount": 4 '));
    expect((await verifyArtifactDir(dir, [key.publicKeyRaw])).problems.join()).toMatch(/signature does not match/);
  });

  it('a manifest signed by an untrusted key, or not signed at all', async () => {
    const { dir } = await fresh();
    const stranger = await generateSigningKey();
    expect((await verifyArtifactDir(dir, [stranger.publicKeyRaw])).problems.join()).toMatch(/unknown key/);
    const unsigned = await mkdtemp(join(tmpdir(), 'unsigned-'));
    await write(unsigned);
    expect(await readdir(unsigned)).not.toContain('manifest.sig');
    expect((await verifyArtifactDir(unsigned, [stranger.publicKeyRaw])).problems).toEqual(['manifest.sig is missing']);
  });
});
