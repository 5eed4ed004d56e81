/**
 * The command-line tools as a user runs them: train → verify, publish (HTTP origin and the local
 * R2 bucket wrangler dev uses), import-spark.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { FILES } from '@edge-recs/core/manifest';
import { generateSigningKey } from '@edge-recs/core/signing';
import { beforeAll, describe, expect, it } from 'vitest';
import { verifyArtifactDir } from '../../model/artifact-fs';
import { readCatalog } from '../../model/catalog';
import { readNeighbourFiles } from '../../model/item-artifact';
import { Rng } from '../../model/rng';

const exec = promisify(execFile);
const TSX = join(process.cwd(), 'node_modules/.bin/tsx');

async function cli(script: string, args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await exec(TSX, [`model/cli/${script}.ts`, ...args], { env: { ...process.env, ...env }, timeout: 120_000 });
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, out: (e.stdout ?? '') + (e.stderr ?? '') };
  }
}

/** two taste groups, a few malformed rows */
async function writeCsv(dir: string) {
  const rng = new Rng(3);
  const lines = ['user_id,item_id,weight,timestamp'];
  for (let u = 0; u < 120; u++)
    for (let k = 0; k < 6; k++)
      lines.push(`user${u},item${(u % 2) * 15 + rng.int(15)},${1 + rng.int(3)},2024-05-0${1 + rng.int(9)}T10:00:00Z`);
  lines.splice(10, 0, 'userX,,1,', 'userY,item1,lots,');
  const file = join(dir, 'events.csv');
  await writeFile(file, lines.join('\n') + '\n');
  await writeFile(
    join(dir, 'items.csv'),
    'item_id,title\n' + Array.from({ length: 30 }, (_, i) => `item${i},"Product ${i}, ${i < 15 ? 'garden' : 'kitchen'}"`).join('\n') + '\n',
  );
  return file;
}

describe('npm run train / evaluate', () => {
  let dir: string, key: Awaited<ReturnType<typeof generateSigningKey>>, out: string, log: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'cli-'));
    key = await generateSigningKey();
    const csv = await writeCsv(dir);
    out = join(dir, 'model');
    const r = await cli(
      'train',
      ['--input', csv, '--items', join(dir, 'items.csv'), '--out', out, '--factors', '8', '--iterations', '4', '--eval', '--no-progress'],
      { MODEL_SIGNING_KEY: key.privateKeyPkcs8 },
    );
    expect(r.code).toBe(0);
    log = r.out;
  });

  it('reports malformed rows with line numbers and trains anyway', () => {
    expect(log).toMatch(/malformed rows skipped: 2/);
    expect(log).toMatch(/line 11: blank item_id/);
    expect(log).toMatch(/line 12: weight "lots"/);
    expect(log).toMatch(/train epoch 4\/4 loss/);
  });

  it('writes a signed artifact with the evaluation and titles inside', async () => {
    const { manifest, problems } = await verifyArtifactDir(out, [key.publicKeyRaw]);
    expect(problems).toEqual([]);
    expect(manifest.metrics?.protocol.name).toBe('strong-generalization');
    expect(manifest.metrics!.model['ndcg@100']).toBeGreaterThan(manifest.metrics!.popularity['ndcg@100']);
    expect(manifest.trainer.hyperparameters).toMatchObject({ factors: 8, iterations: 4 });
    const catalog = readCatalog(
      Object.fromEntries(
        await Promise.all(
          ['item_ids.txt', 'catalog/popular.json', 'catalog/0000.bin'].map(async (f) => [f, await readFile(join(out, f))] as const),
        ),
      ),
    );
    expect(catalog.titles[catalog.ids.indexOf('item3')]).toBe('Product 3, garden');
  });

  it('carries the item model: neighbour lists inside each taste group, factor statistics and the blend constants', async () => {
    const { manifest } = await verifyArtifactDir(out, [key.publicKeyRaw]);
    expect(Object.keys(manifest.files)).toEqual(expect.arrayContaining([FILES.neighbourPart(0), FILES.factorStats]));
    expect(manifest.itemModel).toMatchObject({
      algorithm: 'edlae',
      neighbours: 30,
      weightType: 'int8',
      blend: { factorWeight: 0.25, neighbourInput: 'binary' },
    });
    const lists = readNeighbourFiles(
      { [FILES.neighbourPart(0)]: new Uint8Array(await readFile(join(out, FILES.neighbourPart(0)))) },
      manifest.itemCount,
      FILES.neighbourPart,
    );
    const ids = (await readFile(join(out, 'item_ids.txt'), 'utf8')).trim().split('\n');
    const group = (i: number) => (Number(ids[i].slice(4)) < 15 ? 0 : 1);
    for (let j = 0; j < lists.itemCount; j++) {
      expect(lists.rowPtr[j + 1]).toBeGreaterThan(lists.rowPtr[j]);
      for (let p = lists.rowPtr[j]; p < lists.rowPtr[j + 1]; p++) expect(group(lists.index[p])).toBe(group(j));
    }
    expect((await readFile(join(out, FILES.factorStats))).byteLength).toBe((8 + 64) * 8);
    expect(log).toMatch(/blend \(strength 1\) recall@20=/);
  });

  it('--tune picks the item model and the blend on a validation split of the training users', async () => {
    const tuned = join(dir, 'tuned');
    const r = await cli(
      'train',
      ['--input', join(dir, 'events.csv'), '--out', tuned, '--factors', '8', '--iterations', '3', '--tune', '--no-progress'],
      { MODEL_SIGNING_KEY: '' },
    );
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/validation split: \d+ held-out training users/);
    const m = /tuned in [\d.]+s: (\{.*\}) \(validation/.exec(r.out);
    expect(m).not.toBeNull();
    const chosen = JSON.parse(m![1]);
    const manifest = JSON.parse(await readFile(join(tuned, 'manifest.json'), 'utf8'));
    expect(manifest.itemModel?.params.lambda).toBe(chosen.lambda);
    expect(manifest.itemModel?.blend.factorWeight).toBe(chosen.factorWeight);
  });

  it('--item-solver approximate: local EASE lists, still inside each taste group, recorded in the manifest', async () => {
    const approx = join(dir, 'approx');
    const r = await cli(
      'train',
      [
        '--input',
        join(dir, 'events.csv'),
        '--out',
        approx,
        '--factors',
        '8',
        '--iterations',
        '3',
        '--item-solver',
        'approximate',
        '--item-neighbourhood',
        '8',
        '--no-progress',
      ],
      { MODEL_SIGNING_KEY: '' },
    );
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/item model \(local-ease\(M=8\)\) in/);
    const manifest = JSON.parse(await readFile(join(approx, 'manifest.json'), 'utf8'));
    expect(manifest.itemModel).toMatchObject({ algorithm: 'edlae-local', params: { neighbourhood: 8, lambda: 60 } });
    const lists = readNeighbourFiles(
      { [FILES.neighbourPart(0)]: new Uint8Array(await readFile(join(approx, FILES.neighbourPart(0)))) },
      manifest.itemCount,
      FILES.neighbourPart,
    );
    const ids = (await readFile(join(approx, 'item_ids.txt'), 'utf8')).trim().split('\n');
    const group = (i: number) => (Number(ids[i].slice(4)) < 15 ? 0 : 1);
    expect(lists.rowPtr[lists.itemCount]).toBeGreaterThan(lists.itemCount);
    for (let j = 0; j < lists.itemCount; j++)
      for (let p = lists.rowPtr[j]; p < lists.rowPtr[j + 1]; p++) expect(group(lists.index[p])).toBe(group(j));
  });

  it('evaluates with the hyperparameters of an existing model', async () => {
    const r = await cli('evaluate', ['--input', join(dir, 'events.csv'), '--model', out]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/"factors":8/);
    expect(r.out).toMatch(/iALS +recall@20=\d\.\d{4} +recall@50=\d\.\d{4} +ndcg@100=\d\.\d{4}/);
    expect(r.out).toMatch(/popularity +recall@20=/);
  });

  it('fails with a clear message, not a stack trace, on bad arguments', async () => {
    const r = await cli('train', ['--input', join(dir, 'nope.csv'), '--out', join(dir, 'x')]);
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/^error: .*nope\.csv/m);
    const r2 = await cli('train', ['--input', join(dir, 'events.csv'), '--out', join(dir, 'x'), '--factors', 'many']);
    expect(r2.code).not.toBe(0);
    expect(r2.out).toMatch(/--factors.*integer/);
  });
});

describe('npm run publish', () => {
  let dir: string, model: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pub-'));
    const key = await generateSigningKey();
    model = join(dir, 'model');
    const csv = await writeCsv(dir);
    expect(
      (
        await cli(
          'train',
          ['--input', csv, '--out', model, '--factors', '4', '--iterations', '2', '--no-progress', '--version', 'v-http'],
          { MODEL_SIGNING_KEY: key.privateKeyPkcs8 },
        )
      ).code,
    ).toBe(0);
  });

  it('uploads to an HTTPS origin data first, then signature, manifest and latest.json', async () => {
    const puts: { key: string; auth?: string }[] = [];
    const server = createServer((req, res) => {
      puts.push({ key: req.url!.slice(1), auth: req.headers.authorization });
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const r = await cli('publish', ['--from', model, '--target', 'http', '--url', `http://127.0.0.1:${port}`], {
        ORIGIN_TOKEN: 'secret-1',
      });
      expect(r.code).toBe(0);
    } finally {
      server.close();
    }
    const keys = puts.map((p) => p.key);
    expect(keys.slice(-3)).toEqual(['models/v-http/manifest.sig', 'models/v-http/manifest.json', 'models/latest.json']);
    expect(keys).toContain('models/v-http/item_factors.f32');
    expect(puts.every((p) => p.auth === 'Bearer secret-1')).toBe(true);
  });

  it('refuses an unsigned artifact', async () => {
    const unsigned = join(dir, 'unsigned');
    expect(
      (
        await cli(
          'train',
          ['--input', join(dir, 'events.csv'), '--out', unsigned, '--factors', '4', '--iterations', '1', '--no-progress'],
          { MODEL_SIGNING_KEY: '' },
        )
      ).code,
    ).toBe(0);
    const r = await cli('publish', ['--from', unsigned, '--target', 'http', '--url', 'http://127.0.0.1:9']);
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/unsigned/);
  });

  it('writes into the local R2 bucket that wrangler dev reads', async () => {
    const persist = join(dir, 'state');
    const r = await cli('publish', ['--from', model, '--persist-to', persist]);
    expect(r.code).toBe(0);
    const { getPlatformProxy } = await import('wrangler');
    const proxy = await getPlatformProxy<{ MODELS: R2Bucket }>({ persist: { path: join(persist, 'v3') } });
    try {
      const latest = await proxy.env.MODELS.get('models/latest.json');
      expect(JSON.parse(await latest!.text()).version).toBe('v-http');
      expect(await proxy.env.MODELS.head('models/v-http/scorer.onnx')).not.toBeNull();
    } finally {
      await proxy.dispose();
    }
  }, 120_000);
});

describe('npm run import-spark', () => {
  it('packages MLlib JSON-lines factors into a signed artifact with MLlib fold-in constants', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'spark-'));
    const key = await generateSigningKey();
    await mkdir(join(dir, 'users'));
    await mkdir(join(dir, 'items'));
    const f = (seed: number) => Array.from({ length: 3 }, (_, d) => Math.sin(seed * 7 + d));
    await writeFile(
      join(dir, 'users', 'part-00000-abc.json'),
      [1, 2, 3].map((id) => JSON.stringify({ id, features: f(id) })).join('\n') + '\n',
    );
    await writeFile(
      join(dir, 'items', 'part-00000-abc.json'),
      [10, 11].map((id) => JSON.stringify({ id, features: f(id) })).join('\n') + '\n',
    );
    await writeFile(join(dir, 'items', 'part-00001-abc.json'), JSON.stringify({ id: 12, features: f(12) }) + '\n');
    await writeFile(join(dir, 'items', '_SUCCESS'), '');
    const out = join(dir, 'model');
    const r = await cli(
      'import-spark',
      ['--users', join(dir, 'users'), '--items', join(dir, 'items'), '--out', out, '--alpha', '40', '--reg-param', '0.05'],
      { MODEL_SIGNING_KEY: key.privateKeyPkcs8 },
    );
    expect(r.code).toBe(0);
    const { manifest, problems } = await verifyArtifactDir(out, [key.publicKeyRaw]);
    expect(problems).toEqual([]);
    expect(manifest).toMatchObject({ dims: 3, itemCount: 3, userCount: 3 });
    expect(manifest.foldIn).toEqual({
      unobservedWeight: 1,
      alpha: 40,
      regularization: 0.05,
      regExponent: 1,
      confidence: 'linear',
      regularizationScaling: 'interactions',
    });
    const factors = new Float32Array((await readFile(join(out, 'item_factors.f32'))).buffer.slice(0));
    expect(factors[3]).toBeCloseTo(f(11)[0], 6);
  });

  it('adds neighbour lists and bought-together lists from a distributed job as the item model', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'spark-nb-'));
    const key = await generateSigningKey();
    const f = (seed: number) => Array.from({ length: 3 }, (_, d) => Math.cos(seed * 3 + d));
    const jsonl = (rows: unknown[]) => `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`;
    await writeFile(join(dir, 'u.json'), jsonl([1, 2].map((id) => ({ id, features: f(id) }))));
    await writeFile(join(dir, 'i.json'), jsonl([10, 11, 12, 13].map((id) => ({ id, features: f(id) }))));
    /** one item's line; `list` is "id:weight id:weight …" */
    const line = (item: number | string, list: string) => ({
      item,
      neighbours: list.split(' ').map((e) => ({ id: Number(e.split(':')[0]) || e.split(':')[0], weight: Number(e.split(':')[1]) })),
    });
    await mkdir(join(dir, 'nb'));
    await writeFile(
      join(dir, 'nb', 'part-00000.json'),
      jsonl([
        line(10, '11:0.5 12:0.9 13:-0.2 10:1'), // a negative weight and the item itself: dropped
        line('11', '12:0.3 10:0.3'), // a tie: the lower item index first
      ]),
    );
    await writeFile(join(dir, 'nb', 'part-00001.json.gz'), gzipSync(jsonl([line(12, '10:0.1 11:2 13:1.5')]))); // cut to 2
    await writeFile(join(dir, 'nb', '_SUCCESS'), '');
    await mkdir(join(dir, 'bt'));
    await writeFile(join(dir, 'bt', 'part-00000.json'), jsonl([line(13, '10:4')]));
    const out = join(dir, 'model');
    const args = ['--users', join(dir, 'u.json'), '--items', join(dir, 'i.json'), '--out', out, '--neighbours', join(dir, 'nb')];
    const r = await cli(
      'import-spark',
      [...args, '--bought-together', join(dir, 'bt'), '--neighbours-top', '2', '--neighbours-weights', 'float16', '--factor-weight', '0.4'],
      { MODEL_SIGNING_KEY: key.privateKeyPkcs8 },
    );
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/neighbours: 3 lists, 6 neighbours kept; dropped 1 with weight ≤ 0, 1 self-references, 1 beyond the top 2/);
    const { manifest, problems } = await verifyArtifactDir(out, [key.publicKeyRaw]);
    expect(problems).toEqual([]);
    expect(manifest.itemModel).toMatchObject({
      algorithm: 'imported',
      neighbours: 2,
      weightType: 'float16',
      blend: { factorWeight: 0.4, neighbourInput: 'binary' },
      boughtTogether: true,
      params: { source: 'nb', 'boughtTogether.neighbours': 2 },
    });
    const read = async (file: (n: number) => string) =>
      readNeighbourFiles({ [file(0)]: new Uint8Array(await readFile(join(out, file(0)))) }, 4, file);
    const lists = await read(FILES.neighbourPart);
    const listOf = (j: number) =>
      Array.from(lists.index.subarray(lists.rowPtr[j], lists.rowPtr[j + 1]), (k, t) => [k, lists.weight[lists.rowPtr[j] + t]]);
    expect(listOf(0).map(([k]) => k)).toEqual([2, 1]);
    expect(listOf(0)[0][1]).toBeCloseTo(0.9, 3);
    expect(listOf(1).map(([k]) => k)).toEqual([0, 2]);
    expect(listOf(2).map(([k]) => k)).toEqual([1, 3]);
    expect(listOf(3)).toEqual([]);
    const bt = await read(FILES.boughtTogetherPart);
    expect(Array.from(bt.index)).toEqual([0]);
    expect(bt.rowPtr[3]).toBe(0);
    expect((await readFile(join(out, FILES.factorStats))).byteLength).toBe((3 + 9) * 8);

    // an id the item factors do not know fails the import with a count, unless allowed
    await writeFile(join(dir, 'nb', 'part-00002.json'), jsonl([line(99, '10:1'), line(13, '10:1 x:2')]));
    const bad = await cli('import-spark', [...args, '--out', join(dir, 'bad')]);
    expect(bad.code).not.toBe(0);
    expect(bad.out).toMatch(/1 list\(s\) and 1 neighbour entries name ids that are not among the item factors \(e\.g\. 99, x\)/);
    const allowed = await cli('import-spark', [...args, '--out', join(dir, 'ok'), '--allow-unknown-ids'], { MODEL_SIGNING_KEY: '' });
    expect(allowed.code).toBe(0);
    expect(allowed.out).toMatch(/1 lists and 1 entries with unknown ids/);
  });

  it('rejects factors of inconsistent length with the file and line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'spark-bad-'));
    await writeFile(join(dir, 'u.json'), '{"id":1,"features":[1,2]}\n');
    await writeFile(join(dir, 'i.json'), '{"id":1,"features":[1,2]}\n{"id":2,"features":[1,"x"]}\n');
    const r = await cli('import-spark', ['--users', join(dir, 'u.json'), '--items', join(dir, 'i.json'), '--out', join(dir, 'm')]);
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/i\.json line 2/);
  });
});
