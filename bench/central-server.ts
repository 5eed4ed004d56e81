/**
 * The baseline for the end-to-end benchmark: what teams run at origin today — a central Node
 * server (Hono on @hono/node-server) scoring with native onnxruntime-node, one process and one
 * intra-op thread so its throughput is per core like the Worker's. It serves the same artifact
 * and the same two endpoints with the same math (user vectors from the shards, the shared fold-in).
 * Usage: tsx bench/central-server.ts <artifact dir> <port>
 */

import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { foldIn } from '@edge-recs/core/foldin';
import { FILES, MASK_EXCLUDED, manifestSchema } from '@edge-recs/core/manifest';
import { decodeShard } from '@edge-recs/core/shards';
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import * as ort from 'onnxruntime-node';
import { readCatalog } from '../model/catalog';

const [dir, portArg] = process.argv.slice(2);
const manifest = manifestSchema.parse(JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')));
const catalogFiles = Object.keys(manifest.files).filter((f) => f === FILES.itemIds || f.startsWith('catalog/'));
const catalog = readCatalog(
  Object.fromEntries(await Promise.all(catalogFiles.map(async (f) => [f, await readFile(join(dir, f))] as const))),
);
const f32 = async (name: string) => {
  const b = await readFile(join(dir, name));
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
};
const itemFactors = await f32(FILES.itemFactors);
const itemWeights = await f32(FILES.itemWeights);
const gramBytes = await readFile(join(dir, FILES.gram));
const gram = new Float64Array(gramBytes.buffer.slice(gramBytes.byteOffset, gramBytes.byteOffset + gramBytes.byteLength));
const index = new Map(catalog.ids.map((id, i) => [id, i]));
const users = new Map<string, { vector: Float32Array; items: Uint32Array }>();
for (let s = 0; s < manifest.userShards; s++) {
  const b = await readFile(join(dir, FILES.userShard(s)));
  const shard = decodeShard(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
  shard.ids.forEach((id, j) => {
    users.set(id, {
      vector: shard.vectors.slice(j * shard.dims, (j + 1) * shard.dims),
      items: shard.historyItems.slice(shard.historyPtr[j], shard.historyPtr[j + 1]),
    });
  });
}
const session = await ort.InferenceSession.create(join(dir, FILES.scorer), { intraOpNumThreads: 1, interOpNumThreads: 1 });
const n = manifest.itemCount,
  dims = manifest.dims;
const mask = new Float32Array(n);

async function top(vector: Float32Array, k: number, exclude: Iterable<number>) {
  const excluded = [...exclude];
  for (const i of excluded) mask[i] = MASK_EXCLUDED;
  try {
    const out = await session.run({
      user: new ort.Tensor('float32', vector, [1, dims]),
      mask: new ort.Tensor('float32', mask, [1, n]),
      k: new ort.Tensor('int64', BigInt64Array.from([BigInt(k)]), [1]),
    });
    const values = out.top_values.data as Float32Array,
      indices = out.top_indices.data as BigInt64Array;
    return Array.from(indices, (ix, j) => ({ id: catalog.ids[Number(ix)], score: values[j], title: catalog.titles[Number(ix)] }));
  } finally {
    for (const i of excluded) mask[i] = 0;
  }
}

const app = new Hono();
app.get('/v1/users/:id/recommendations', async (c) => {
  const k = Number(c.req.query('k') ?? 20);
  const user = users.get(c.req.param('id'));
  if (!user) return c.json({ error: { code: 'not_found', message: 'unknown user' } }, 404);
  return c.json({ model: manifest.version, source: 'personalized', items: await top(user.vector, k, user.items) });
});
app.post('/v1/recommendations', async (c) => {
  const body = await c.req.json<{ items: string[]; k?: number }>();
  const items = body.items.map((id) => index.get(id)).filter((i): i is number => i !== undefined);
  const vector = foldIn(
    itemFactors,
    gram,
    dims,
    n,
    manifest.foldIn,
    items.map((i) => ({ index: i, strength: 1 })),
    itemWeights,
  );
  return c.json({ model: manifest.version, source: 'session', items: await top(vector, body.k ?? 20, items) });
});

serve({ fetch: app.fetch, port: Number(portArg), hostname: '127.0.0.1' }, () => console.log(`central server ready on ${portArg}`));
