/**
 * Experiments: operators start, list and stop them (admin token on every admin route); a subject
 * — a user id, or an anonymous session id — lands in a variant by a keyed hash, stays there, and
 * the split follows the weights; a variant's model version and placement serve its answers, which
 * say which variant they are; reports compare the variants.
 */
import { env, SELF } from 'cloudflare:test';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { createApp } from '../../src/app';
import { assignmentPoint, variantAt } from '../../src/services/experiments';
import { buildFixture, getJson, publishFixture } from './fixtures';

const ADMIN = { authorization: 'Bearer test-admin-token', 'content-type': 'application/json' };
const KEY = { authorization: 'Bearer test-api-key', 'content-type': 'application/json' };
type Rec = { model: string; recId: string; experiment?: string; variant?: string; items: { id: string }[]; placement?: { name: string } };

const putExperiment = (name: string, body: unknown, headers: Record<string, string> = ADMIN) =>
  SELF.fetch(`http://x/admin/experiments/${name}`, { method: 'PUT', headers, body: JSON.stringify(body) });
const refresh = async () => getJson(await SELF.fetch('http://x/admin/refresh', { method: 'POST', headers: ADMIN }));

let bundledVersion: string;

beforeAll(async () => {
  bundledVersion = (await getJson(await SELF.fetch('http://x/v1/model'))).version;
  await publishFixture(await buildFixture({ version: 'exp-b' }));
  expect((await refresh()).outcome).toBe('activated');
});

describe('admin routes', () => {
  it('every one of them refuses a missing, wrong or non-admin token', async () => {
    const routes = createApp()
      .routes.filter((r) => r.path.startsWith('/admin/') && r.method !== 'ALL')
      .map((r) => ({ method: r.method, path: r.path.replace(/:[^/]+/g, 'x') }));
    expect(routes.length).toBeGreaterThanOrEqual(12);
    for (const r of routes)
      for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: 'Bearer test-api-key' }] as Record<string, string>[]) {
        const res = await SELF.fetch(`http://x${r.path}`, {
          method: r.method,
          headers: { ...headers, 'content-type': 'application/json' },
          ...(r.method === 'GET' ? {} : { body: '{}' }),
        });
        expect(res.status, `${r.method} ${r.path}`).toBe(401);
      }
  });
});

describe('assignment', () => {
  it('splits 10,000 ids by the weights within sampling error, the same way every time', async () => {
    const variants = [
      { name: 'a', weight: 5 },
      { name: 'b', weight: 3 },
      { name: 'c', weight: 2 },
    ];
    const ids = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);
    const assign = (exp: string) =>
      Promise.all(ids.map(async (id) => variantAt(variants, await assignmentPoint('secret', exp, { kind: 'user', id })).name));
    const first = await assign('exp');
    const counts = { a: 0, b: 0, c: 0 } as Record<string, number>;
    for (const v of first) counts[v]++;
    // χ² with 2 degrees of freedom below 13.8 (p = 0.001)
    const chi2 = variants.reduce((s, v) => {
      const expected = (10_000 * v.weight) / 10;
      return s + (counts[v.name] - expected) ** 2 / expected;
    }, 0);
    expect(chi2).toBeLessThan(13.8);
    // sticky: the same answer again
    expect(await assign('exp')).toEqual(first);
    // another experiment assigns independently: agreement near Σp² = 0.38
    const other = await assign('other');
    const same = other.filter((v, i) => v === first[i]).length / ids.length;
    expect(Math.abs(same - 0.38)).toBeLessThan(0.03);
    // a session id sent as the userId of its events is the same subject (its events reach its variant's model)
    const asSession = await Promise.all(ids.slice(0, 200).map(async (id) => assignmentPoint('secret', 'exp', { kind: 'session', id })));
    const asUser = await Promise.all(ids.slice(0, 200).map(async (id) => assignmentPoint('secret', 'exp', { kind: 'user', id })));
    expect(asSession).toEqual(asUser);
    // and the key matters: another secret assigns differently
    const otherKey = await Promise.all(ids.slice(0, 200).map(async (id) => assignmentPoint('other', 'exp', { kind: 'user', id })));
    expect(otherKey.filter((u, i) => u === asUser[i])).toHaveLength(0);
  });
});

describe('an experiment between the bundled model and a newly published one', () => {
  const definition = {
    description: 'bundled vs exp-b',
    variants: [
      { name: 'control', weight: 1, modelVersion: 'bundled' },
      { name: 'treatment', weight: 1, modelVersion: 'exp-b' },
    ],
  };

  it('is validated, started once, listed, and cannot change while it runs', async () => {
    for (const bad of [
      { variants: [{ name: 'only', weight: 1 }] },
      {
        variants: [
          { name: 'a', weight: 1 },
          { name: 'a', weight: 1 },
        ],
      },
      {
        variants: [
          { name: 'a', weight: 1, modelVersion: 'never-published' },
          { name: 'b', weight: 1 },
        ],
      },
      {
        variants: [
          { name: 'a', weight: 0 },
          { name: 'b', weight: 1 },
        ],
      },
      {
        variants: [
          { name: 'a', weight: 1 },
          { name: 'b', weight: 1 },
        ],
        colour: 'red',
      },
    ]) {
      const res = await putExperiment('bad', bad);
      expect(res.status, JSON.stringify(bad)).toBe(400);
    }
    const noPlacement = await putExperiment('bad', {
      variants: [
        { name: 'a', weight: 1, placement: 'nowhere' },
        { name: 'b', weight: 1 },
      ],
    });
    expect(noPlacement.status).toBe(404);
    expect((await getJson(noPlacement)).error.code).toBe('placement_not_found');

    const created = await putExperiment('models', definition);
    expect(created.status).toBe(201);
    expect(await getJson(created)).toMatchObject({ name: 'models', status: 'running', variants: definition.variants });
    expect((await putExperiment('models', definition)).status).toBe(200);
    const changed = await putExperiment('models', {
      ...definition,
      variants: [definition.variants[0], { ...definition.variants[1], weight: 3 }],
    });
    expect(changed.status).toBe(409);
    expect((await getJson(changed)).error.code).toBe('experiment_conflict');
    // one experiment per scope
    expect((await putExperiment('models-2', definition)).status).toBe(409);
    const list = await getJson(await SELF.fetch('http://x/admin/experiments', { headers: ADMIN }));
    expect(list.experiments.map((e: { name: string }) => e.name)).toEqual(['models']);
    expect((await SELF.fetch('http://x/admin/experiments/nope', { headers: ADMIN })).status).toBe(404);
  });

  it("serves each session and user from its variant's model, sticky, and says so in the answer", async () => {
    const seen = new Map<string, string>();
    for (let s = 0; s < 40; s++) {
      const res = await SELF.fetch(`http://x/v1/popular?k=3&sessionId=session-${s}`);
      const body = await getJson<Rec>(res);
      expect(body.experiment).toBe('models');
      expect(['control', 'treatment']).toContain(body.variant);
      expect(body.model).toBe(body.variant === 'control' ? bundledVersion : 'exp-b');
      expect(res.headers.get('x-model-version')).toBe(body.model);
      seen.set(`session-${s}`, body.variant as string);
    }
    expect(new Set(seen.values()).size).toBe(2);
    // sticky across requests and routes
    for (const [id, variant] of [...seen].slice(0, 8)) {
      const again = await getJson<Rec>(await SELF.fetch(`http://x/v1/trending?k=3&sessionId=${id}`));
      expect(again.variant).toBe(variant);
    }
    // a known user of the new model gets personalised answers from it in the treatment
    for (const user of ['u0-1', 'u1-2', 'u2-3', 'u3-4', 'u0-5', 'u1-6']) {
      const body = await getJson<Rec & { source: string }>(await SELF.fetch(`http://x/v1/users/${user}/recommendations?k=3`));
      if (body.variant === 'treatment') {
        expect(body.model).toBe('exp-b');
        expect(body.source).toBe('personalized');
      } else expect(body.model).toBe(bundledVersion);
    }
    // without a subject there is no experiment: the active model answers
    const anonymous = await getJson<Rec>(await SELF.fetch('http://x/v1/popular?k=3'));
    expect(anonymous.variant).toBeUndefined();
    expect(anonymous.model).toBe('exp-b');
  });

  it('reports each variant with its counts, rates and the test against the control', async () => {
    // sessions click the first item of every answer in the control, never in the treatment
    let controlClicks = 0;
    for (let s = 0; s < 30; s++) {
      const body = await getJson<Rec>(await SELF.fetch(`http://x/v1/popular?k=4&sessionId=metrics-${s}`));
      if (body.variant === 'control' && ++controlClicks)
        await SELF.fetch('http://x/v1/events', {
          method: 'POST',
          headers: KEY,
          body: JSON.stringify({ userId: `metrics-${s}`, itemId: body.items[0].id, type: 'click', recId: body.recId }),
        });
    }
    await vi.waitFor(
      async () => {
        const r = await getJson(await SELF.fetch('http://x/admin/metrics?experiment=models', { headers: ADMIN }));
        expect(r.groups.map((g: { variant: string }) => g.variant)).toEqual(['control', 'treatment']);
        const [control, treatment] = r.groups;
        expect(controlClicks).toBeGreaterThan(0);
        expect(control.clicks).toBe(controlClicks);
        expect(treatment.clicks).toBe(0);
        expect(control.versusControl).toBeNull();
        expect(treatment.versusControl.control).toBe('control');
        expect(treatment.versusControl.ctr.difference).toBeCloseTo(-control.clicks / control.itemsShown, 9);
        expect(control.rates.ctr.low).toBeLessThan(control.rates.ctr.estimate);
      },
      { timeout: 5000 },
    );
  });

  it('keeps the version it serves through later refreshes, and stops', async () => {
    for (const v of ['exp-c', 'exp-d', 'exp-e']) {
      await publishFixture(await buildFixture({ version: v }));
      expect((await refresh()).outcome).toBe('activated');
    }
    // KEEP_PREVIOUS_VERSIONS is 2, but exp-b is pinned by the running experiment
    const overview = await getJson(await SELF.fetch('http://x/admin/overview', { headers: ADMIN }));
    expect(overview.versions.map((v: { version: string }) => v.version)).toContain('exp-b');
    expect(await env.MODELS.head('models/exp-b/manifest.json')).not.toBeNull();

    const stopped = await SELF.fetch('http://x/admin/experiments/models/stop', { method: 'POST', headers: ADMIN });
    expect(stopped.status).toBe(200);
    expect(await getJson(stopped)).toMatchObject({ status: 'stopped' });
    expect((await SELF.fetch('http://x/admin/experiments/models/stop', { method: 'POST', headers: ADMIN })).status).toBe(200);
    const after = await getJson<Rec>(await SELF.fetch('http://x/v1/popular?k=3&sessionId=session-1'));
    expect(after.variant).toBeUndefined();
    expect(after.model).toBe('exp-e');
    expect((await putExperiment('models', definition)).status).toBe(409);
  });

  it('runs a placement-scoped experiment beside an unscoped one, with a variant applying its own placement', async () => {
    for (const name of ['exp-home', 'exp-home-b'])
      expect(
        (
          await SELF.fetch(`http://x/admin/placements/${name}`, {
            method: 'PUT',
            headers: ADMIN,
            body: JSON.stringify({ description: name }),
          })
        ).status,
      ).toBe(200);
    expect(
      (
        await putExperiment('home-rules', {
          placement: 'exp-home',
          variants: [
            { name: 'as-is', weight: 1 },
            { name: 'other-rules', weight: 1, placement: 'exp-home-b' },
          ],
        })
      ).status,
    ).toBe(201);
    const variants = new Set<string>();
    for (let s = 0; s < 20; s++) {
      const body = await getJson<Rec>(await SELF.fetch(`http://x/v1/popular?k=3&placement=exp-home&sessionId=home-${s}`));
      expect(body.experiment).toBe('home-rules');
      expect(body.placement?.name).toBe(body.variant === 'other-rules' ? 'exp-home-b' : 'exp-home');
      variants.add(body.variant as string);
    }
    expect(variants.size).toBe(2);
    // other placements are not in it
    expect((await getJson<Rec>(await SELF.fetch('http://x/v1/popular?k=3&sessionId=home-1'))).experiment).toBeUndefined();
  });
});
