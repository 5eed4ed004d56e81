/**
 * The API contract: the README, the OpenAPI document and the server agree.
 *
 * The Worker runs as deployed — the `wrangler deploy --dry-run` bundle in workerd through
 * Miniflare, with its own fresh KV, R2 and Durable Object state — and this test, in Node:
 * - validates /openapi.json with a third-party OpenAPI validator (swagger-parser);
 * - sends every operation of the document valid and invalid requests (EXAMPLES below; an
 *   operation without examples fails the test, so a new route cannot skip the contract) and
 *   checks each answer's status is one the document lists for the operation and its body
 *   validates against the listed schema (ajv, JSON Schema 2020-12 as OpenAPI 3.1 uses);
 * - fires property-generated bad input at every operation (fast-check): never a 5xx, always the
 *   error shape, a listed status, and a rejected request changes no stored state;
 * - checks the README's endpoint table and error-code table against the document and the server.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SwaggerParser from '@apidevtools/swagger-parser';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import fc from 'fast-check';
import type { Miniflare } from 'miniflare';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleWorker, startMiniflare } from '../../scripts/miniflare';
import { ERROR_STATUS } from '../../src/errors';

const API_KEY = 'contract-api-key';
const ADMIN_TOKEN = 'contract-admin-token';
const KEY = { authorization: `Bearer ${API_KEY}` };
const ADMIN = { authorization: `Bearer ${ADMIN_TOKEN}` };
const JSON_BODY = { 'content-type': 'application/json' };

interface Request {
  path: string;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: unknown;
  /** send this exact text as the body */
  raw?: string;
}

interface Examples {
  /** requests the operation answers with a 2xx */
  valid: Request[];
  /** requests it answers with a 4xx */
  invalid: Request[];
  /** credentials the operation needs (property tests send them, so they reach validation) */
  auth?: Record<string, string>;
  /** a request whose path parameters fit the operation, for the property tests to vary */
  base: Request;
}

const basket = { items: ['85123A', '71053'], k: 5 };
/** Report ranges end now by default and may span at most METRICS_RETENTION_DAYS (90): recent starts. */
const WEEK_AGO_ISO = new Date(Date.now() - 7 * 86_400_000).toISOString();
const DAY_AGO_EPOCH_SECONDS = String(Math.floor(Date.now() / 1000) - 86_400);

/** Example requests per operation, keyed "METHOD /path/template" as in the document. */
const EXAMPLES: Record<string, Examples> = {
  'GET /v1/users/{userId}/recommendations': {
    base: { path: '/v1/users/17850/recommendations' },
    valid: [
      { path: '/v1/users/17850/recommendations', query: { k: '5', excludePurchased: 'false' } },
      { path: '/v1/users/nobody/recommendations' },
      { path: '/v1/users/17850/recommendations', query: { k: '5', explain: 'true' } },
    ],
    invalid: [
      { path: '/v1/users/17850/recommendations', query: { k: '500' } },
      { path: '/v1/users/17850/recommendations', query: { k: '0x10' } },
      { path: '/v1/users/17850/recommendations', query: { excludePurchased: 'maybe' } },
      { path: '/v1/users/17850/recommendations', query: { color: 'red' } },
    ],
  },
  'POST /v1/recommendations': {
    base: { path: '/v1/recommendations', headers: JSON_BODY, body: basket },
    valid: [
      { path: '/v1/recommendations', headers: JSON_BODY, body: basket },
      { path: '/v1/recommendations', headers: JSON_BODY, body: { ...basket, explain: true } },
    ],
    invalid: [
      { path: '/v1/recommendations', headers: JSON_BODY, body: { items: [] } },
      { path: '/v1/recommendations', headers: JSON_BODY, body: { items: ['85123A'], k: true } },
      { path: '/v1/recommendations', headers: JSON_BODY, body: { items: Array.from({ length: 1001 }, (_, i) => `i${i}`) } },
      { path: '/v1/recommendations', headers: JSON_BODY, body: { items: ['85123A'], filter: { category: [] } } },
      { path: '/v1/recommendations', headers: JSON_BODY, raw: '{"items": [' },
      { path: '/v1/recommendations', headers: { 'content-type': 'text/plain' }, raw: JSON.stringify(basket) },
      { path: '/v1/recommendations', headers: JSON_BODY, raw: JSON.stringify({ items: ['x'.repeat(100)], pad: 'y'.repeat(70_000) }) },
    ],
  },
  'POST /v1/score': {
    base: { path: '/v1/score', headers: JSON_BODY, body: { userId: '17850', candidates: ['22423'] } },
    valid: [
      { path: '/v1/score', headers: JSON_BODY, body: { userId: '17850', candidates: ['22423', 'NOPE'] } },
      { path: '/v1/score', headers: JSON_BODY, body: { items: ['85123A'], candidates: ['22423'] } },
    ],
    invalid: [
      { path: '/v1/score', headers: JSON_BODY, body: { userId: '17850', items: ['85123A'], candidates: ['22423'] } },
      { path: '/v1/score', headers: JSON_BODY, body: { userId: '17850', candidates: [] } },
    ],
  },
  'GET /v1/users/{userId}/history': {
    base: { path: '/v1/users/17850/history' },
    valid: [{ path: '/v1/users/17850/history' }],
    invalid: [{ path: '/v1/users/17850/history', query: { k: '3' } }, { path: '/v1/users/%20/history' }],
  },
  'GET /v1/items/{itemId}/similar': {
    base: { path: '/v1/items/22423/similar' },
    valid: [{ path: '/v1/items/22423/similar', query: { k: '3' } }],
    invalid: [{ path: '/v1/items/NOPE/similar' }, { path: '/v1/items/22423/similar', query: { k: '-1' } }],
  },
  'GET /v1/items': {
    base: { path: '/v1/items' },
    valid: [{ path: '/v1/items', query: { q: 'heart', limit: '3' } }],
    invalid: [
      { path: '/v1/items', query: { limit: '1e2' } },
      { path: '/v1/items', query: { q: 'x'.repeat(101) } },
    ],
  },
  'PUT /v1/items': {
    auth: KEY,
    base: {
      path: '/v1/items',
      headers: { ...JSON_BODY, ...KEY },
      body: { items: [{ id: 'contract-item', title: 'Contract mug', category: 'mugs', price: 4.5 }] },
    },
    valid: [
      {
        path: '/v1/items',
        headers: { ...JSON_BODY, ...KEY },
        body: { items: [{ id: 'contract-item', title: 'Contract mug', category: 'mugs', price: 4.5 }] },
      },
      { path: '/v1/items', headers: { ...JSON_BODY, ...KEY }, body: { items: [{ id: 'contract-gone-item', title: 'To be deleted' }] } },
    ],
    invalid: [
      { path: '/v1/items', headers: { ...JSON_BODY, ...KEY }, body: { items: [{ id: 'x', price: -1 }] } },
      { path: '/v1/items', headers: { ...JSON_BODY, ...KEY }, body: { items: [{ id: 'x', colour: 'red' }] } },
      { path: '/v1/items', headers: JSON_BODY, body: { items: [{ id: 'x' }] } },
      { path: '/v1/items', headers: { ...JSON_BODY, ...KEY }, body: { items: Array.from({ length: 1001 }, (_, i) => ({ id: `i${i}` })) } },
    ],
  },
  'GET /v1/items/{itemId}': {
    base: { path: '/v1/items/contract-item' },
    valid: [{ path: '/v1/items/contract-item' }, { path: '/v1/items/22423' }],
    invalid: [{ path: '/v1/items/NOPE' }, { path: '/v1/items/22423', query: { k: '1' } }],
  },
  'DELETE /v1/items/{itemId}': {
    auth: KEY,
    base: { path: '/v1/items/contract-gone-item', headers: KEY },
    valid: [{ path: '/v1/items/contract-gone-item', headers: KEY }],
    invalid: [{ path: '/v1/items/contract-gone-item' }, { path: '/v1/items/NOPE', headers: KEY }],
  },
  'GET /v1/items/{itemId}/bought-together': {
    base: { path: '/v1/items/22423/bought-together' },
    valid: [{ path: '/v1/items/22423/bought-together', query: { k: '3' } }, { path: '/v1/items/contract-item/bought-together' }],
    invalid: [{ path: '/v1/items/NOPE/bought-together' }, { path: '/v1/items/22423/bought-together', query: { k: '1.5' } }],
  },
  'GET /v1/trending': {
    base: { path: '/v1/trending' },
    valid: [
      { path: '/v1/trending', query: { k: '5' } },
      { path: '/v1/trending', query: { category: 'mugs', maxPrice: '10' } },
    ],
    invalid: [
      { path: '/v1/trending', query: { k: '0' } },
      { path: '/v1/trending', query: { since: 'yesterday' } },
    ],
  },
  'GET /v1/users/{userId}/recent': {
    base: { path: '/v1/users/17850/recent' },
    valid: [{ path: '/v1/users/17850/recent', query: { k: '5' } }],
    invalid: [{ path: '/v1/users/17850/recent', query: { k: 'ten' } }, { path: '/v1/users/%20/recent' }],
  },
  'GET /v1/popular': {
    base: { path: '/v1/popular' },
    valid: [{ path: '/v1/popular', query: { k: '5', category: 'mugs' } }],
    invalid: [
      { path: '/v1/popular', query: { placement: 'no-such-placement' } },
      { path: '/v1/popular', query: { maxPrice: '-3' } },
    ],
  },
  'GET /v1/model': {
    base: { path: '/v1/model' },
    valid: [{ path: '/v1/model' }],
    invalid: [{ path: '/v1/model', query: { verbose: 'true' } }],
  },
  'POST /v1/events': {
    auth: KEY,
    base: { path: '/v1/events', headers: { ...JSON_BODY, ...KEY }, body: { userId: 'contract-u', itemId: '85123A', type: 'view' } },
    valid: [{ path: '/v1/events', headers: { ...JSON_BODY, ...KEY }, body: { userId: 'contract-u', itemId: '85123A', type: 'view' } }],
    invalid: [
      { path: '/v1/events', headers: JSON_BODY, body: { userId: 'u', itemId: '85123A', type: 'view' } },
      { path: '/v1/events', headers: { ...JSON_BODY, ...KEY }, body: { userId: 'u', itemId: '85123A', type: 'like' } },
      { path: '/v1/events', headers: { ...JSON_BODY, ...KEY }, body: { events: [] } },
    ],
  },
  'DELETE /v1/users/{userId}': {
    auth: KEY,
    base: { path: '/v1/users/contract-gone', headers: KEY },
    valid: [{ path: '/v1/users/contract-gone', headers: KEY }],
    invalid: [{ path: '/v1/users/contract-gone' }, { path: '/v1/users/contract-gone', headers: { 'x-api-key': API_KEY } }],
  },
  'GET /v1/erasures/{jobId}': {
    auth: KEY,
    base: { path: '/v1/erasures/00000000-0000-4000-8000-000000000000', headers: KEY },
    valid: [],
    invalid: [
      { path: '/v1/erasures/00000000-0000-4000-8000-000000000000', headers: KEY },
      { path: '/v1/erasures/not-a-uuid', headers: KEY },
    ],
  },
  'GET /healthz': { base: { path: '/healthz' }, valid: [{ path: '/healthz' }], invalid: [{ path: '/healthz', query: { deep: '1' } }] },
  'POST /admin/refresh': {
    auth: ADMIN,
    base: { path: '/admin/refresh', headers: ADMIN },
    valid: [{ path: '/admin/refresh', headers: ADMIN }],
    invalid: [
      { path: '/admin/refresh' },
      { path: '/admin/refresh', headers: { authorization: `Bearer ${API_KEY}` } },
      { path: '/admin/refresh', headers: ADMIN, query: { force: 'yes' } },
    ],
  },
  'GET /admin/refresh': {
    auth: ADMIN,
    base: { path: '/admin/refresh', headers: ADMIN },
    valid: [{ path: '/admin/refresh', headers: ADMIN }],
    invalid: [{ path: '/admin/refresh', headers: { 'x-api-key': ADMIN_TOKEN } }],
  },
  'PUT /admin/placements/{name}': {
    auth: ADMIN,
    base: { path: '/admin/placements/home', headers: { ...JSON_BODY, ...ADMIN }, body: { explorationSlots: 1 } },
    valid: [
      {
        path: '/admin/placements/home',
        headers: { ...JSON_BODY, ...ADMIN },
        body: {
          filter: { category: 'mugs' },
          boosts: [{ match: { ids: ['22423'] }, add: 1 }],
          pins: [{ itemId: '22423', position: 1 }],
          diversity: { maxPerCategory: 3 },
        },
      },
      { path: '/admin/placements/to-delete', headers: { ...JSON_BODY, ...ADMIN }, body: {} },
    ],
    invalid: [
      { path: '/admin/placements/home', headers: { ...JSON_BODY, ...ADMIN }, body: { boosts: [{ match: { category: 'x' } }] } },
      { path: '/admin/placements/Bad%20Name', headers: { ...JSON_BODY, ...ADMIN }, body: {} },
      { path: '/admin/placements/home', headers: JSON_BODY, body: {} },
    ],
  },
  'GET /admin/placements': {
    auth: ADMIN,
    base: { path: '/admin/placements', headers: ADMIN },
    valid: [{ path: '/admin/placements', headers: ADMIN }],
    invalid: [{ path: '/admin/placements' }],
  },
  'GET /admin/placements/{name}': {
    auth: ADMIN,
    base: { path: '/admin/placements/home', headers: ADMIN },
    valid: [{ path: '/admin/placements/home', headers: ADMIN }],
    invalid: [{ path: '/admin/placements/never-defined', headers: ADMIN }, { path: '/admin/placements/home' }],
  },
  'DELETE /admin/placements/{name}': {
    auth: ADMIN,
    base: { path: '/admin/placements/to-delete', headers: ADMIN },
    valid: [{ path: '/admin/placements/to-delete', headers: ADMIN }],
    invalid: [{ path: '/admin/placements/never-defined', headers: ADMIN }, { path: '/admin/placements/home' }],
  },
  'PUT /admin/experiments/{name}': {
    auth: ADMIN,
    base: {
      path: '/admin/experiments/contract',
      headers: { ...JSON_BODY, ...ADMIN },
      body: {
        variants: [
          { name: 'control', weight: 1 },
          { name: 'half', weight: 1, placement: 'home' },
        ],
      },
    },
    valid: [
      {
        path: '/admin/experiments/contract',
        headers: { ...JSON_BODY, ...ADMIN },
        body: {
          variants: [
            { name: 'control', weight: 1 },
            { name: 'half', weight: 1, placement: 'home' },
          ],
        },
      },
      {
        path: '/admin/experiments/contract',
        headers: { ...JSON_BODY, ...ADMIN },
        body: {
          variants: [
            { name: 'control', weight: 1 },
            { name: 'half', weight: 1, placement: 'home' },
          ],
        },
      },
    ],
    invalid: [
      {
        path: '/admin/experiments/contract',
        headers: { ...JSON_BODY, ...ADMIN },
        body: {
          variants: [
            { name: 'x', weight: 2 },
            { name: 'y', weight: 1 },
          ],
        },
      },
      { path: '/admin/experiments/other', headers: { ...JSON_BODY, ...ADMIN }, body: { variants: [{ name: 'x', weight: 1 }] } },
      {
        path: '/admin/experiments/other',
        headers: { ...JSON_BODY, ...ADMIN },
        body: {
          variants: [
            { name: 'x', weight: 1 },
            { name: 'y', weight: 1, placement: 'nowhere' },
          ],
        },
      },
      {
        path: '/admin/experiments/Bad Name',
        headers: { ...JSON_BODY, ...ADMIN },
        body: {
          variants: [
            { name: 'control', weight: 1 },
            { name: 'half', weight: 1, placement: 'home' },
          ],
        },
      },
      {
        path: '/admin/experiments/contract',
        headers: JSON_BODY,
        body: {
          variants: [
            { name: 'control', weight: 1 },
            { name: 'half', weight: 1, placement: 'home' },
          ],
        },
      },
    ],
  },
  'GET /admin/experiments': {
    auth: ADMIN,
    base: { path: '/admin/experiments', headers: ADMIN },
    valid: [{ path: '/admin/experiments', headers: ADMIN }],
    invalid: [{ path: '/admin/experiments' }, { path: '/admin/experiments', headers: ADMIN, query: { status: 'running' } }],
  },
  'GET /admin/experiments/{name}': {
    auth: ADMIN,
    base: { path: '/admin/experiments/contract', headers: ADMIN },
    valid: [{ path: '/admin/experiments/contract', headers: ADMIN }],
    invalid: [{ path: '/admin/experiments/never', headers: ADMIN }, { path: '/admin/experiments/contract' }],
  },
  'GET /admin/metrics': {
    auth: ADMIN,
    base: { path: '/admin/metrics', headers: ADMIN },
    valid: [
      { path: '/admin/metrics', headers: ADMIN },
      { path: '/admin/metrics', headers: ADMIN, query: { experiment: 'contract', from: WEEK_AGO_ISO } },
      { path: '/admin/metrics', headers: ADMIN, query: { groupBy: 'hour', placement: '-' } },
      { path: '/admin/metrics', headers: ADMIN, query: { groupBy: 'placement', to: String(Date.now()) } },
    ],
    invalid: [
      { path: '/admin/metrics' },
      { path: '/admin/metrics', headers: ADMIN, query: { groupBy: 'colour' } },
      { path: '/admin/metrics', headers: ADMIN, query: { from: 'last tuesday' } },
      { path: '/admin/metrics', headers: ADMIN, query: { from: '99999999999999999999' } },
      { path: '/admin/metrics', headers: ADMIN, query: { from: '2026-02-30' } },
    ],
  },
  'GET /admin/traffic': {
    auth: ADMIN,
    base: { path: '/admin/traffic', headers: ADMIN },
    valid: [
      { path: '/admin/traffic', headers: ADMIN },
      { path: '/admin/traffic', headers: ADMIN, query: { from: DAY_AGO_EPOCH_SECONDS } },
    ],
    invalid: [
      { path: '/admin/traffic' },
      { path: '/admin/traffic', headers: ADMIN, query: { to: 'soon' } },
      { path: '/admin/traffic', headers: ADMIN, query: { from: '1', to: '9000000000' } },
      { path: '/admin/traffic', headers: ADMIN, query: { from: '2020-01-01' } },
    ],
  },
  'GET /admin/overview': {
    auth: ADMIN,
    base: { path: '/admin/overview', headers: ADMIN },
    valid: [{ path: '/admin/overview', headers: ADMIN }],
    invalid: [{ path: '/admin/overview' }, { path: '/admin/overview', headers: ADMIN, query: { x: '1' } }],
  },
  'POST /admin/experiments/{name}/stop': {
    auth: ADMIN,
    base: { path: '/admin/experiments/contract/stop', headers: ADMIN },
    valid: [{ path: '/admin/experiments/contract/stop', headers: ADMIN }],
    invalid: [{ path: '/admin/experiments/never/stop', headers: ADMIN }, { path: '/admin/experiments/contract/stop' }],
  },
  'POST /admin/rollback': {
    auth: ADMIN,
    base: { path: '/admin/rollback', headers: ADMIN },
    valid: [],
    invalid: [{ path: '/admin/rollback', headers: ADMIN }, { path: '/admin/rollback' }],
  },
};

type Doc = {
  paths: Record<string, Record<string, { responses: Record<string, { content?: Record<string, { schema: unknown }> }> }>>;
};

let mf: Miniflare;
let dir: string;
let doc: Doc;
let ajv: Ajv2020;
const seen = new Map<string, Set<number>>();

async function send(method: string, r: Request): Promise<Response> {
  const url = new URL(`http://worker${r.path}`);
  for (const [k, v] of Object.entries(r.query ?? {})) url.searchParams.set(k, v);
  const body = r.raw ?? (r.body === undefined ? undefined : JSON.stringify(r.body));
  return (await mf.dispatchFetch(url, { method, headers: r.headers, body })) as unknown as Response;
}

/** The document's path template matching a concrete path (null: none). */
function templateOf(path: string): string | null {
  for (const template of Object.keys(doc.paths)) {
    const pattern = new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`);
    if (pattern.test(path)) return template;
  }
  return null;
}

const pointer = (...parts: string[]) => parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');

/** Checks one answer against the document; returns its status. */
async function expectConforms(method: string, r: Request, res: Response): Promise<number> {
  // the path as the server sees it (dot segments resolved, percent-escapes kept)
  const path = new URL(`http://worker${r.path}`).pathname;
  const template = templateOf(path);
  const body = await res.text();
  expect(res.status, `${method} ${path} answered ${res.status}: ${body}`).toBeLessThan(500);
  let parsed: unknown;
  expect(() => (parsed = JSON.parse(body)), `${method} ${path}: not JSON: ${body.slice(0, 200)}`).not.toThrow();
  if (res.status >= 400) {
    expect(parsed).toMatchObject({ error: { code: expect.any(String), message: expect.any(String) } });
    expect(Object.keys(ERROR_STATUS)).toContain((parsed as { error: { code: string } }).error.code);
  }
  const op = template ? doc.paths[template][method.toLowerCase()] : undefined;
  if (!op) {
    // no such operation: 404 for an unknown path, 405 with Allow for a known path and another method
    expect([404, 405], `${method} ${path}`).toContain(res.status);
    if (res.status === 405) expect(res.headers.get('allow')).toBeTruthy();
    return res.status;
  }
  const key = `${method} ${template}`;
  if (!seen.has(key)) seen.set(key, new Set());
  seen.get(key)?.add(res.status);
  const listed = op.responses[String(res.status)];
  expect(listed, `${key} answered ${res.status}, which the document does not list: ${body.slice(0, 200)}`).toBeDefined();
  const schemaRef = `openapi#/${pointer('paths', template as string, method.toLowerCase(), 'responses', String(res.status), 'content', 'application/json', 'schema')}`;
  const valid = ajv.validate({ $ref: schemaRef }, parsed);
  expect(valid, `${key} ${res.status} body does not match the document: ${ajv.errorsText()} — ${body.slice(0, 300)}`).toBe(true);
  return res.status;
}

/** Everything stored: KV keys and values, R2 keys and etags. */
interface Kv {
  list(): Promise<{ keys: { name: string }[] }>;
  get(key: string): Promise<string | null>;
}
interface Bucket {
  list(): Promise<{ objects: { key: string; etag: string }[] }>;
}

async function snapshot(): Promise<string> {
  const kv = (await mf.getKVNamespace('RECS_KV')) as unknown as Kv;
  const keys = (await kv.list()).keys.map((k) => k.name).sort();
  const values = await Promise.all(keys.map(async (k) => `${k}=${(await kv.get(k)) ?? ''}`));
  const r2 = (await mf.getR2Bucket('MODELS')) as unknown as Bucket;
  const objects = (await r2.list()).objects.map((o) => `${o.key}@${o.etag}`).sort();
  return JSON.stringify({ values, objects });
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'contract-'));
  bundleWorker(join(dir, 'bundle'));
  mf = await startMiniflare(join(dir, 'bundle'), join(dir, 'state'), 0, {
    API_KEY,
    ADMIN_TOKEN,
    USER_ID_SECRET: 'contract-secret',
    ACTIVE_POINTER_TTL_SECONDS: '0',
  });
  doc = (await (await send('GET', { path: '/openapi.json' })).json()) as Doc;
  ajv = new Ajv2020({ strict: false, allErrors: true });
  addFormats(ajv);
  ajv.addSchema(structuredClone(doc) as object, 'openapi');
}, 180_000);

afterAll(async () => {
  await mf?.dispose();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('the OpenAPI document', () => {
  it('is a valid OpenAPI 3.1 document (swagger-parser)', async () => {
    await expect(SwaggerParser.validate(structuredClone(doc) as never)).resolves.toBeTruthy();
  });

  it('has contract examples for every operation it lists', () => {
    const operations = Object.entries(doc.paths).flatMap(([path, methods]) =>
      Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`),
    );
    expect(operations.sort()).toEqual(Object.keys(EXAMPLES).sort());
  });
});

describe('every answer conforms to the document', () => {
  it('valid requests get a listed 2xx whose body matches its schema', async () => {
    for (const [key, ex] of Object.entries(EXAMPLES)) {
      const method = key.split(' ')[0];
      for (const r of ex.valid) {
        const status = await expectConforms(method, r, await send(method, r));
        expect(status, `${key} ${r.path}`).toBeLessThan(300);
      }
    }
  });

  it('invalid requests get a listed 4xx with the error shape, and change nothing', async () => {
    for (const [key, ex] of Object.entries(EXAMPLES)) {
      const method = key.split(' ')[0];
      for (const r of ex.invalid) {
        const before = await snapshot();
        const status = await expectConforms(method, r, await send(method, r));
        expect(status, `${key} ${JSON.stringify(r)}`).toBeGreaterThanOrEqual(400);
        expect(await snapshot(), `${key} ${JSON.stringify(r)} changed stored state`).toBe(before);
      }
    }
  });

  it('answers a wrong method with 405 and Allow, and an unknown path with 404', async () => {
    const wrong = await send('PATCH', { path: '/v1/model' });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('GET, HEAD');
    expect(((await wrong.json()) as { error: { code: string } }).error.code).toBe('method_not_allowed');
    const unknown = await send('GET', { path: '/v1/nothing-here' });
    expect(unknown.status).toBe(404);
    expect(((await unknown.json()) as { error: { code: string } }).error.code).toBe('not_found');
  });

  it('exercised every operation, with a success where one exists and with an error', () => {
    for (const [key, ex] of Object.entries(EXAMPLES)) {
      const statuses = [...(seen.get(key) ?? [])];
      if (ex.valid.length)
        expect(
          statuses.some((s) => s < 300),
          `${key}: ${statuses}`,
        ).toBe(true);
      expect(
        statuses.some((s) => s >= 400),
        `${key}: ${statuses}`,
      ).toBe(true);
    }
  });
});

describe('bad input, generated', () => {
  const junkValue = fc.oneof(
    fc.string({ maxLength: 30 }),
    fc.constantFrom('', '0', '-1', '0x10', '1e3', 'NaN', 'true', 'null', '%', '9'.repeat(30), 'ü', '../..'),
  );
  const junkQuery = fc.dictionary(
    fc.oneof(fc.constantFrom('k', 'limit', 'q', 'force', 'excludePurchased'), fc.string({ minLength: 1, maxLength: 12 })),
    junkValue,
    {
      maxKeys: 3,
    },
  );
  const junkBody = fc.oneof(
    fc.jsonValue({ maxDepth: 3 }),
    fc.record(
      {
        items: fc.array(fc.oneof(fc.string(), fc.integer(), fc.constant(null)), { maxLength: 5 }),
        k: fc.oneof(fc.integer(), fc.boolean(), fc.string()),
      },
      { requiredKeys: [] },
    ),
    fc.record(
      { userId: fc.string(), itemId: fc.string(), type: fc.string(), timestamp: fc.oneof(fc.string(), fc.double()) },
      { requiredKeys: [] },
    ),
  );
  const junkSegment = fc.oneof(fc.string({ minLength: 1, maxLength: 200 }), fc.constantFrom(' ', '..', 'a'.repeat(300), '%ZZ', 'ü'));

  it('never answers 5xx, always with the error shape and a listed status, and a refused request stores nothing', async () => {
    const operations = Object.entries(EXAMPLES);
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: operations.length - 1 }),
        junkQuery,
        junkBody,
        junkSegment,
        fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', ''),
        fc.boolean(),
        async (o, query, body, segment, contentType, bodyAsText) => {
          const [key, ex] = operations[o];
          const method = key.split(' ')[0];
          // vary one path parameter, if the template has one
          const path = key.includes('{')
            ? ex.base.path.replace(/\/[^/]+(\/[a-z]+)?$/, (_, tail) => `/${encodeURIComponent(segment)}${tail ?? ''}`)
            : ex.base.path;
          const headers: Record<string, string> = { ...ex.auth, ...(contentType ? { 'content-type': contentType } : {}) };
          const r: Request =
            method === 'GET' || method === 'DELETE'
              ? { path, query, headers }
              : { path, query, headers, raw: bodyAsText ? (JSON.stringify(body) ?? '').slice(0, -1) : JSON.stringify(body) };
          const before = await snapshot();
          const status = await expectConforms(method, r, await send(method, r));
          if (status >= 400) expect(await snapshot(), `${key} ${JSON.stringify(r).slice(0, 300)} changed stored state`).toBe(before);
        },
      ),
      { numRuns: 150, seed: 20261123 },
    );
  }, 300_000);
});

describe('the README', () => {
  it("lists the document's operations in its endpoint table", async () => {
    const readme = await readFile('README.md', 'utf8');
    const listed = new Set([...readme.matchAll(/`(GET|POST|PUT|DELETE) (\/[^`?\s]+)/g)].map((m) => `${m[1]} ${m[2]}`));
    for (const op of Object.keys(EXAMPLES)) expect(listed, `README does not mention ${op}`).toContain(op);
  });

  it('lists every error code with the status the server answers it with', async () => {
    const readme = await readFile('README.md', 'utf8');
    const rows = new Map([...readme.matchAll(/^\|\s*`([a-z_]+)`\s*\|\s*(\d{3})\s*\|/gm)].map((m) => [m[1], Number(m[2])]));
    expect(Object.fromEntries(rows)).toEqual(ERROR_STATUS);
  });
});
