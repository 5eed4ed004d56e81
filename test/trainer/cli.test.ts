/**
 * The command-line tools as a user runs them: train → verify, publish (HTTP origin and the local
 * R2 bucket wrangler dev uses), import-spark; and how each refuses input it cannot honour (a
 * one-line error and a non-zero exit, never a stack trace or an artifact that only looks right).
 */
import { execFile } from 'node:child_process';
import { cp, mkdir, mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
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
import { trustedKeys } from '../../model/cli/publish';
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

  it('applies the items file and says what it did in one line', () => {
    expect(log).toMatch(/^items file: 30 rows applied, 0 unknown ids, 0 bad values \(30 rows in .*items\.csv\)$/m);
  });

  it('stops at a quote left open across lines, naming the line it opened on, and writes no model', async () => {
    const lines = (await readFile(join(dir, 'events.csv'), 'utf8')).split('\n');
    lines[101] = '17850,"85123A'; // line 102
    await writeFile(join(dir, 'quote.csv'), lines.join('\n'));
    const r = await cli('train', ['--input', join(dir, 'quote.csv'), '--out', join(dir, 'quote'), '--factors', '4', '--no-progress'], {
      MODEL_SIGNING_KEY: key.privateKeyPkcs8,
    });
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^error: line 102: a quoted field opens on this line and is never closed: 622 lines would be skipped/m);
    await expect(readdir(join(dir, 'quote'))).rejects.toThrow(/ENOENT/);
  });

  it('names a missing --items file in one line, without a stack trace', async () => {
    const r = await cli('train', ['--input', join(dir, 'events.csv'), '--items', join(dir, 'nope.csv'), '--out', join(dir, 'x')]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^error: cannot read items file .*nope\.csv: ENOENT$/m);
    expect(r.out).not.toMatch(/^\s+at /m);
  });

  it('refuses hyperparameters the manifest would refuse before reading any data, naming the flag and the bound', async () => {
    for (const [flag, value, bound] of [
      ['--regularization', '0', 'a number > 0'],
      ['--unobserved-weight', '0', 'a number > 0'],
      ['--factors', '2000', 'an integer ≤ 1024'],
    ]) {
      const r = await cli('train', ['--input', join(dir, 'events.csv'), '--out', join(dir, 'x'), flag, value, '--no-progress']);
      expect(r.code).toBe(1);
      expect(r.out.trim()).toBe(
        `error: option '${flag} <${flag === '--factors' ? 'n' : 'x'}>' argument '${value}' is invalid. expected ${bound} (what the model manifest allows)`,
      );
    }
    const r = await cli('train', ['--input', join(dir, 'events.csv'), '--out', join(dir, 'x'), '--version', 'retail/v2']);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^error: option '--version <id>' argument 'retail\/v2' is invalid\. expected 1 to 100 of A-Z/m);
  });

  it('refuses to train on a single user', async () => {
    await writeFile(join(dir, 'one.csv'), 'user_id,item_id\nu1,a\nu1,b\nu1,c\n');
    const r = await cli('train', ['--input', join(dir, 'one.csv'), '--out', join(dir, 'one'), '--no-progress'], {
      MODEL_SIGNING_KEY: key.privateKeyPkcs8,
    });
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^error: too little data to train: 1 user\(s\) × 3 item\(s\); at least 2 users and 2 items are needed$/m);
  });

  it('--eval and --tune with nobody to hold out: no metrics stored, the given parameters kept, and the manifest says so', async () => {
    // 4 users with ≥ 5 items (10% of 4 rounds to 0 held out), 10 with 2
    const lines = ['user_id,item_id'];
    for (let u = 0; u < 4; u++) for (let k = 0; k < 6; k++) lines.push(`big${u},item${(u + k) % 12}`);
    for (let u = 0; u < 10; u++) for (let k = 0; k < 2; k++) lines.push(`small${u},item${(u * 2 + k) % 12}`);
    await writeFile(join(dir, 'few.csv'), `${lines.join('\n')}\n`);
    const few = join(dir, 'few');
    const r = await cli(
      'train',
      ['--input', join(dir, 'few.csv'), '--out', few, '--factors', '4', '--iterations', '2', '--eval', '--tune', '--no-progress'],
      { MODEL_SIGNING_KEY: '' },
    );
    expect(r.code).toBe(0);
    expect(r.out).toMatch(
      /--eval: no user could be held out \(the split takes 10% of the 4 users with ≥ 5 items, rounded\): nothing is measured/,
    );
    expect(r.out).toMatch(/--tune: the validation split holds out no user .*keeping \{"lambda":60,/);
    expect(r.out).not.toMatch(/evaluation \(|tuned in/);
    const manifest = JSON.parse(await readFile(join(few, 'manifest.json'), 'utf8'));
    expect(manifest.metrics).toBeNull();
    expect(manifest.itemModel.params).toMatchObject({ tune: 'skipped: empty validation split', lambda: 60, dropout: 0.5 });
    expect(manifest.itemModel.blend.factorWeight).toBe(0.25);
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
    const validationUsers = Number(/validation split: (\d+) held-out training users/.exec(r.out)?.[1]);
    expect(validationUsers).toBeGreaterThan(0);
    expect(manifest.itemModel?.params).toMatchObject({
      tune: 'validation split',
      'tune.seed': 2025,
      'tune.validationUsers': validationUsers,
    });
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

  it('evaluate --write stores what the artifact serves, the blend, as train --eval measured it', async () => {
    const copy = join(dir, 'evaluated');
    await cp(out, copy, { recursive: true });
    const trained = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8'));
    expect(trained.metrics.factors['ndcg@100']).not.toBe(trained.metrics.model['ndcg@100']);
    const r = await cli('evaluate', ['--input', join(dir, 'events.csv'), '--model', copy, '--write'], {
      MODEL_SIGNING_KEY: key.privateKeyPkcs8,
    });
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/blend +recall@20=\d\.\d{4} +recall@50=\d\.\d{4} +ndcg@100=\d\.\d{4} \(served\)/);
    const { manifest, problems } = await verifyArtifactDir(copy, [key.publicKeyRaw]);
    expect(problems).toEqual([]);
    // same split, same models: the blend stays under `model`, iALS alone under `factors`
    expect(manifest.metrics).toEqual(trained.metrics);
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
  let dir: string, model: string, key: Awaited<ReturnType<typeof generateSigningKey>>;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pub-'));
    key = await generateSigningKey();
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
        MODEL_PUBLIC_KEYS: `${(await generateSigningKey()).publicKeyRaw},${key.publicKeyRaw}`,
      });
      expect(r.code).toBe(0);
      expect(r.out).toMatch(/v-http: signature verified against \$MODEL_PUBLIC_KEYS/);
    } finally {
      server.close();
    }
    const keys = puts.map((p) => p.key);
    expect(keys.slice(-3)).toEqual(['models/v-http/manifest.sig', 'models/v-http/manifest.json', 'models/latest.json']);
    expect(keys).toContain('models/v-http/item_factors.f32');
    expect(puts.every((p) => p.auth === 'Bearer secret-1')).toBe(true);
  });

  /** Publishes to a local HTTP origin; returns the exit, the output and the keys it received. */
  async function publishHttp(from: string, args: string[], env: Record<string, string> = {}) {
    const puts: string[] = [];
    const server = createServer((req, res) => {
      puts.push(req.url!.slice(1));
      req.resume();
      req.on('end', () => res.end('ok'));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const port = (server.address() as { port: number }).port;
    try {
      const r = await cli('publish', ['--from', from, '--target', 'http', '--url', `http://127.0.0.1:${port}`, ...args], {
        MODEL_PUBLIC_KEYS: '',
        ...env,
      });
      return { ...r, puts };
    } finally {
      server.close();
    }
  }

  it('refuses an edited manifest, a corrupted signature or an untrusted key before uploading anything', async () => {
    const tampered = async (name: string, damage: (dir: string) => Promise<void>) => {
      const copy = join(dir, name);
      await cp(model, copy, { recursive: true });
      await damage(copy);
      return copy;
    };
    const edited = await tampered('edited', async (d) => {
      const text = await readFile(join(d, 'manifest.json'), 'utf8');
      await writeFile(join(d, 'manifest.json'), text.replace('"source": "events.csv"', '"source": "other.csv"'));
    });
    const corrupt = await tampered('corrupt-sig', async (d) => {
      const sig = JSON.parse(await readFile(join(d, 'manifest.sig'), 'utf8'));
      sig.signature = Buffer.from(Buffer.from(sig.signature, 'base64').map((b, i) => (i === 0 ? b ^ 1 : b))).toString('base64');
      await writeFile(join(d, 'manifest.sig'), JSON.stringify(sig));
    });
    const garbled = await tampered('garbled-sig', (d) => writeFile(join(d, 'manifest.sig'), '{"algorithm": "Ed25'));
    for (const [from, why] of [
      [edited, /signature does not match/],
      [corrupt, /signature does not match/],
      [garbled, /manifest\.sig is malformed/],
    ] as const) {
      const r = await publishHttp(from, ['--public-key', key.publicKeyRaw]);
      expect(r.code).toBe(1);
      expect(r.out).toMatch(/^error: artifact in .* fails verification:$/m);
      expect(r.out).toMatch(why);
      expect(r.puts).toEqual([]);
    }
    const stranger = await publishHttp(model, ['--public-key', (await generateSigningKey()).publicKeyRaw]);
    expect(stranger.code).toBe(1);
    expect(stranger.out).toMatch(/signed with unknown key/);
    expect(stranger.puts).toEqual([]);
  });

  it('without a trusted key refuses to publish unchecked, unless told --no-verify-signature', async () => {
    const r = await publishHttp(model, []);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(
      /^error: cannot verify the signature: no trusted public key\. Pass --public-key <base64> or set MODEL_PUBLIC_KEYS/m,
    );
    expect(r.puts).toEqual([]);
    const unchecked = await publishHttp(model, ['--no-verify-signature']);
    expect(unchecked.code).toBe(0);
    expect(unchecked.out).toMatch(/v-http: signature NOT verified \(--no-verify-signature\)/);
    expect(unchecked.puts.at(-1)).toBe('models/latest.json');
  });

  it('takes the trusted keys from --public-key, else $MODEL_PUBLIC_KEYS, else .dev.vars (for the local bucket)', async () => {
    const vars = join(dir, '.dev.vars');
    await writeFile(vars, 'ADMIN_TOKEN="x"\nMODEL_PUBLIC_KEYS="k1, k2"\n');
    expect(await trustedKeys({ flag: 'f1', env: 'e1', devVars: vars })).toEqual({ keys: ['f1'], source: '--public-key' });
    expect(await trustedKeys({ env: 'e1,e2', devVars: vars })).toEqual({ keys: ['e1', 'e2'], source: '$MODEL_PUBLIC_KEYS' });
    expect(await trustedKeys({ env: '', devVars: vars })).toEqual({ keys: ['k1', 'k2'], source: `MODEL_PUBLIC_KEYS in ${vars}` });
    expect(await trustedKeys({ env: 'e1' })).toEqual({ keys: ['e1'], source: '$MODEL_PUBLIC_KEYS' });
    expect(await trustedKeys({ devVars: join(dir, 'no-such-file') })).toBeNull();
  });

  it('refuses an unsigned artifact before starting wrangler', async () => {
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
    const persist = join(dir, 'unsigned-state');
    const r = await cli('publish', ['--from', unsigned, '--persist-to', persist, '--public-key', key.publicKeyRaw]);
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^error: the artifact in .* is unsigned \(no manifest\.sig\)/m);
    // wrangler's platform proxy would have created its state directory
    await expect(readdir(persist)).rejects.toThrow(/ENOENT/);
  });

  it('writes into the local R2 bucket that wrangler dev reads', async () => {
    const persist = join(dir, 'state');
    const r = await cli('publish', ['--from', model, '--persist-to', persist, '--public-key', key.publicKeyRaw]);
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

    // evaluate would retrain iALS, not these factors: it does not store that as this model's metrics
    const evaluated = await cli('evaluate', ['--input', join(dir, 'none.csv'), '--model', out, '--write']);
    expect(evaluated.code).toBe(1);
    expect(evaluated.out).toMatch(/^error: cannot --write: .* was made by spark-mllib-als-implicit, not this trainer/m);
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

  it('refuses an id that repeats among the factors, naming both places, instead of signing what the Worker rejects', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'spark-dup-'));
    const rows = (ids: number[]) => `${ids.map((id) => JSON.stringify({ id, features: [id, 1] })).join('\n')}\n`;
    await mkdir(join(dir, 'items'));
    await writeFile(join(dir, 'items', 'part-00000.json'), rows([0, 1, 2]));
    await writeFile(join(dir, 'items', 'part-00000-copy.json'), rows([0, 1, 2])); // the part file copied twice
    await writeFile(join(dir, 'u.json'), rows([7, 8]));
    const r = await cli('import-spark', ['--users', join(dir, 'u.json'), '--items', join(dir, 'items'), '--out', join(dir, 'm')], {
      MODEL_SIGNING_KEY: (await generateSigningKey()).privateKeyPkcs8,
    });
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^error: part-00000\.json line 1: the item id "0" repeats part-00000-copy\.json line 1 \(each id once/m);
    await expect(readdir(join(dir, 'm'))).rejects.toThrow(/ENOENT/);

    await writeFile(join(dir, 'u2.json'), rows([7, 8, 7]));
    const users = await cli('import-spark', ['--users', join(dir, 'u2.json'), '--items', join(dir, 'u.json'), '--out', join(dir, 'm')]);
    expect(users.code).toBe(1);
    expect(users.out).toMatch(/^error: u2\.json line 3: the user id "7" repeats u2\.json line 1/m);
  });

  it('reads --titles as an items file, as train reads --items; a missing one is a one-line error', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'spark-titles-'));
    const rows = (ids: number[]) => `${ids.map((id) => JSON.stringify({ id, features: [id, 1] })).join('\n')}\n`;
    await writeFile(join(dir, 'u.json'), rows([7, 8]));
    await writeFile(join(dir, 'i.json'), rows([0, 1, 2]));
    await writeFile(join(dir, 'items.csv'), 'Item_ID,Title,Price\n0,Lamp,12.5\n1,Mug,€3\n99,Ghost,1\n');
    const args = ['--users', join(dir, 'u.json'), '--items', join(dir, 'i.json')];
    const r = await cli('import-spark', [...args, '--out', join(dir, 'm'), '--titles', join(dir, 'items.csv')], { MODEL_SIGNING_KEY: '' });
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^items file: 2 rows applied, 1 unknown ids, 1 bad values \(3 rows in .*items\.csv\)$/m);
    expect(r.out).toMatch(/^ {2}line 3: price "€3" is not a plain non-negative number/m);
    const popular = JSON.parse(await readFile(join(dir, 'm', FILES.popular), 'utf8'));
    expect(popular.titles).toEqual(['Lamp', 'Mug', '']);
    expect(Object.keys(JSON.parse(await readFile(join(dir, 'm', 'manifest.json'), 'utf8')).files)).toContain(FILES.itemFields);

    // the interactions' own title and price columns name the items as train takes them; --titles goes over them
    await writeFile(join(dir, 'events.csv'), 'user_id,item_id,title,price\n7,0,Desk lamp,11\n8,2,Teapot,4.5\n7,2,Teapot,4.5\n');
    const withEvents = [...args, '--interactions', join(dir, 'events.csv')];
    const fromEvents = await cli('import-spark', [...withEvents, '--out', join(dir, 'm3')], { MODEL_SIGNING_KEY: '' });
    expect(fromEvents.code).toBe(0);
    const popular3 = JSON.parse(await readFile(join(dir, 'm3', FILES.popular), 'utf8'));
    expect(Object.fromEntries(popular3.items.map((id: string, j: number) => [id, popular3.titles[j]]))).toEqual({
      '0': 'Desk lamp',
      '1': '',
      '2': 'Teapot',
    });
    const both = await cli('import-spark', [...withEvents, '--out', join(dir, 'm4'), '--titles', join(dir, 'items.csv')], {
      MODEL_SIGNING_KEY: '',
    });
    expect(both.code).toBe(0);
    const popular4 = JSON.parse(await readFile(join(dir, 'm4', FILES.popular), 'utf8'));
    expect(Object.fromEntries(popular4.items.map((id: string, j: number) => [id, popular4.titles[j]]))).toEqual({
      '0': 'Lamp',
      '1': 'Mug',
      '2': 'Teapot',
    });

    const missing = await cli('import-spark', [...args, '--out', join(dir, 'm2'), '--titles', join(dir, 'nope.csv')]);
    expect(missing.code).toBe(1);
    expect(missing.out).toMatch(/^error: cannot read items file .*nope\.csv: ENOENT$/m);
    expect(missing.out).not.toMatch(/^\s+at /m);
  });

  it('refuses a --reg-param the manifest would refuse, before reading the factors', async () => {
    const r = await cli('import-spark', ['--users', 'u', '--items', 'i', '--out', 'o', '--reg-param', '0']);
    expect(r.code).toBe(1);
    expect(r.out.trim()).toBe(
      "error: option '--reg-param <x>' argument '0' is invalid. expected a number > 0 (what the model manifest allows)",
    );
  });

  it('rejects factors of inconsistent length with the file and line', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'spark-bad-'));
    await writeFile(join(dir, 'u.json'), '{"id":1,"features":[1,2]}\n');
    await writeFile(join(dir, 'i.json'), '{"id":1,"features":[1,2]}\n{"id":2,"features":[1,"x"]}\n');
    const r = await cli('import-spark', ['--users', join(dir, 'u.json'), '--items', join(dir, 'i.json'), '--out', join(dir, 'm')]);
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(/i\.json line 2/);
  });

  it("stores a job's large weights rescaled to finite ones, says so, drops what would store as 0, and refuses 1e999 with its line", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'spark-big-'));
    const key = await generateSigningKey();
    const jsonl = (rows: unknown[]) => `${rows.map((r) => JSON.stringify(r)).join('\n')}\n`;
    const f = (seed: number) => Array.from({ length: 3 }, (_, d) => Math.cos(seed * 3 + d));
    await writeFile(join(dir, 'u.json'), jsonl([1, 2].map((id) => ({ id, features: f(id) }))));
    await writeFile(join(dir, 'i.json'), jsonl([10, 11, 12, 13].map((id) => ({ id, features: f(id) }))));
    const nb = (w: string) =>
      `{"item":"10","neighbours":[{"id":"11","weight":${w}},{"id":"12","weight":1e-9}]}\n{"item":"12","neighbours":[{"id":"10","weight":250000},{"id":"13","weight":3}]}\n`;
    await writeFile(join(dir, 'nb.json'), nb('1e6'));
    const args = (out: string, type: string) => [
      ...['--users', join(dir, 'u.json'), '--items', join(dir, 'i.json'), '--out', join(dir, out)],
      ...['--neighbours', join(dir, 'nb.json'), '--bought-together', join(dir, 'nb.json'), '--neighbours-weights', type],
    ];
    const r = await cli('import-spark', args('m16', 'float16'), { MODEL_SIGNING_KEY: key.privateKeyPkcs8 });
    expect(r.code).toBe(0);
    expect(r.out).toMatch(
      /^neighbours: 2 lists, 3 neighbours kept; dropped 0 with weight ≤ 0, .*, 1 too small to store as float16 \(they would be 0\)/m,
    );
    expect(r.out).toMatch(
      /^neighbours: the largest weight, 1000000, is outside 2\^-14…65504: every weight is stored × 2\^-20 \(the largest becomes 0\.9537;/m,
    );
    expect(r.out).toMatch(/^bought together: the largest weight, 1000000, .* × 2\^-20/m);
    expect((await verifyArtifactDir(join(dir, 'm16'), [key.publicKeyRaw])).problems).toEqual([]);
    for (const file of [FILES.neighbourPart, FILES.boughtTogetherPart]) {
      const lists = readNeighbourFiles({ [file(0)]: new Uint8Array(await readFile(join(dir, 'm16', file(0)))) }, 4, file);
      for (const w of lists.weight) expect(Number.isFinite(w) && w > 0).toBe(true);
      expect(Array.from(lists.rowPtr)).toEqual([0, 1, 1, 3, 3]); // 10 → 11 (the 1e-9 dropped); 12 → 10, 13
      expect(Array.from(lists.index)).toEqual([1, 0, 3]);
      expect(lists.weight[1] / lists.weight[0]).toBeCloseTo(0.25, 3);
      expect(lists.weight[2] / lists.weight[0]).toBeCloseTo(3e-6, 6);
    }

    // int8 keeps a float32 scale per list: 1e40 used to store as Infinity (127 × 7.9e37)
    await writeFile(join(dir, 'nb.json'), nb('1e40'));
    const i8 = await cli('import-spark', args('m8', 'int8'), { MODEL_SIGNING_KEY: '' });
    expect(i8.code).toBe(0);
    expect(i8.out).toMatch(/^neighbours: 2 lists, 2 neighbours kept; .*, 2 too small to store as int8 \(they would be 0\)/m);
    const lists = readNeighbourFiles(
      { [FILES.neighbourPart(0)]: new Uint8Array(await readFile(join(dir, 'm8', FILES.neighbourPart(0)))) },
      4,
      FILES.neighbourPart,
    );
    expect(Array.from(lists.index)).toEqual([1, 0]); // 12 (1e-9) and 13 (3 beside 250000, under 1/254) store as 0 in int8: dropped
    expect(lists.weight[1] / lists.weight[0]).toBeCloseTo(2.5e-35, 37);
    for (const w of lists.weight) expect(Number.isFinite(w) && w > 0).toBe(true);

    // one outlier beside ordinary weights would store most of the lists as 0: the import fails instead
    await writeFile(
      join(dir, 'nb.json'),
      jsonl([
        {
          item: '10',
          neighbours: [
            { id: '11', weight: 1e30 },
            { id: '12', weight: 1 },
          ],
        },
        { item: '11', neighbours: [{ id: '13', weight: 1 }] },
        {
          item: '12',
          neighbours: [
            { id: '10', weight: 2 },
            { id: '13', weight: 3 },
          ],
        },
      ]),
    );
    const outlier = await cli('import-spark', args('outlier', 'float16'));
    expect(outlier.code).toBe(1);
    expect(outlier.out).toMatch(/^error: neighbours: 4 of 5 entries would be stored as 0 in float16 beside the largest weight, 1e\+30: /m);
    await expect(readdir(join(dir, 'outlier'))).rejects.toThrow(/ENOENT/);

    await writeFile(join(dir, 'nb.json'), nb('1e999'));
    const bad = await cli('import-spark', args('bad', 'float16'));
    expect(bad.code).toBe(1);
    expect(bad.out).toMatch(/^error: nb\.json line 1: expected \{"item": <id>, "neighbours": \[\{"id": <id>, "weight": <finite number>\}/m);
    await expect(readdir(join(dir, 'bad'))).rejects.toThrow(/ENOENT/);
  });
});
