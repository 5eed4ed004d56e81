/**
 * Experiments: operators start, list and stop them (admin token on every admin route); a subject
 * — a user id, or an anonymous session id — lands in a variant by a keyed hash, stays there, and
 * the split follows the weights; a variant's model version and placement serve its answers, which
 * say which variant they are; reports compare the variants.
 */
import { env, SELF } from 'cloudflare:test';
import { FILES } from '@edge-recs/core/manifest';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { createApp } from '../../src/app';
import { configFrom } from '../../src/config';
import { refreshDeps } from '../../src/context';
import { bundledSource } from '../../src/models/bundled';
import { bindRegistry, ModelRegistry } from '../../src/models/registry';
import { assignmentPoint, variantAt } from '../../src/services/experiments';
import { refreshModel } from '../../src/services/refresh';
import { blockData, buildFixture, getJson, publishFixture } from './fixtures';

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
    // a variant too small to ever be measured is refused, naming it and its share
    const tiny = await putExperiment('bad', {
      variants: [
        { name: 'a', weight: 1 },
        { name: 'b', weight: 1e-300 },
      ],
    });
    expect(tiny.status).toBe(400);
    expect((await getJson(tiny)).error.message).toMatch(/variant b would get .*% of the traffic; each needs at least 0\.1%/);
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
    // a mistyped name is not an empty report
    const typo = await SELF.fetch('http://x/admin/metrics?experiment=modles', { headers: ADMIN });
    expect(typo.status).toBe(404);
    expect((await getJson(typo)).error.code).toBe('experiment_not_found');
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

describe('experiment writes', () => {
  const unscoped = {
    variants: [
      { name: 'a', weight: 1 },
      { name: 'b', weight: 1 },
    ],
  };
  const list = async () =>
    (await getJson<{ experiments: { name: string; status: string }[] }>(await SELF.fetch('http://x/admin/experiments', { headers: ADMIN })))
      .experiments;

  it('lets exactly one of ten overlapping starts sent at once win: the others get 409, and the winner is stored and running', async () => {
    // several rounds: a lost update needs two writes to interleave, which one round may not show
    for (let round = 0; round < 10; round++) {
      const names = Array.from({ length: 10 }, (_, i) => `r${round}-x${i}`);
      const answers = await Promise.all(names.map((name) => putExperiment(name, unscoped)));
      const statuses = answers.map((r) => r.status);
      expect(
        statuses.filter((s) => s === 201),
        `round ${round}: ${statuses}`,
      ).toHaveLength(1);
      expect(
        statuses.filter((s) => s === 409),
        `round ${round}: ${statuses}`,
      ).toHaveLength(9);
      for (const res of answers.filter((r) => r.status === 409)) expect((await getJson(res)).error.code).toBe('experiment_conflict');
      const winner = names[statuses.indexOf(201)];
      const stored = await SELF.fetch(`http://x/admin/experiments/${winner}`, { headers: ADMIN });
      expect(stored.status).toBe(200);
      expect(await getJson(stored)).toMatchObject({ name: winner, status: 'running' });
      expect((await list()).filter((e) => names.includes(e.name)).map((e) => e.name)).toEqual([winner]);
      expect((await SELF.fetch(`http://x/admin/experiments/${winner}/stop`, { method: 'POST', headers: ADMIN })).status).toBe(200);
    }
  });

  it('applies a stop and the start of another experiment sent at once, both of them, every time', async () => {
    expect(
      (await SELF.fetch('http://x/admin/placements/exp-side', { method: 'PUT', headers: ADMIN, body: JSON.stringify({}) })).status,
    ).toBe(200);
    for (let round = 0; round < 10; round++) {
      expect((await putExperiment(`stop-me-${round}`, unscoped)).status).toBe(201);
      const [stopped, started] = await Promise.all([
        SELF.fetch(`http://x/admin/experiments/stop-me-${round}/stop`, { method: 'POST', headers: ADMIN }),
        putExperiment(`side-${round}`, { ...unscoped, placement: 'exp-side' }),
      ]);
      expect(stopped.status).toBe(200);
      expect(started.status).toBe(201);
      const after = Object.fromEntries((await list()).map((e) => [e.name, e.status]));
      expect(after[`stop-me-${round}`], `round ${round}`).toBe('stopped');
      expect(after[`side-${round}`], `round ${round}`).toBe('running');
      expect((await SELF.fetch(`http://x/admin/experiments/side-${round}/stop`, { method: 'POST', headers: ADMIN })).status).toBe(200);
    }
  });
});

describe('a variant that names a model version', () => {
  it('serves its users from that version only, never from a previous version that knows them', async () => {
    // the new version knows none of the test users (renamed); the one before it (exp-e) knows them all
    const data = blockData({ seed: 12 });
    data.userIds = data.userIds.map((id) => `fresh-${id}`);
    await publishFixture(await buildFixture({ version: 'fresh-v2', data }));
    expect((await refresh()).outcome).toBe('activated');
    const users = ['u0-1', 'u1-2', 'u2-3', 'u3-4', 'u0-5', 'u1-6', 'u2-7', 'u3-8', 'u0-9', 'u1-10'];
    // outside an experiment, a kept previous version that knows a user serves them (in its own space)
    const outside = await getJson<Rec & { source: string }>(await SELF.fetch(`http://x/v1/users/${users[0]}/recommendations?k=3`));
    expect(outside).toMatchObject({ model: 'exp-e', source: 'personalized' });

    expect(
      (
        await putExperiment('pinned', {
          variants: [
            { name: 'old', weight: 1, modelVersion: 'bundled' },
            { name: 'new', weight: 1, modelVersion: 'fresh-v2' },
          ],
        })
      ).status,
    ).toBe(201);
    const variants = new Set<string>();
    for (const user of users) {
      const res = await SELF.fetch(`http://x/v1/users/${user}/recommendations?k=3`);
      const body = await getJson<Rec & { source: string }>(res);
      expect(body.experiment).toBe('pinned');
      variants.add(body.variant as string);
      expect(body.model, `${user} in ${body.variant}`).toBe(body.variant === 'new' ? 'fresh-v2' : bundledVersion);
      expect(res.headers.get('x-model-version')).toBe(body.model);
      // fresh-v2 does not know them and they have no events: its fallback, not exp-e's personalised answer
      if (body.variant === 'new') expect(body.source).toBe('popular');
    }
    expect(variants).toEqual(new Set(['old', 'new']));
    expect((await SELF.fetch('http://x/admin/experiments/pinned/stop', { method: 'POST', headers: ADMIN })).status).toBe(200);
  });
});

describe('a placement a running experiment uses', () => {
  const placement = (name: string, method = 'PUT') =>
    SELF.fetch(`http://x/admin/placements/${name}`, { method, headers: ADMIN, ...(method === 'PUT' ? { body: '{}' } : {}) });

  it('cannot be deleted while the experiment runs: 409 placement_in_use naming the experiment', async () => {
    expect((await placement('exp-gone')).status).toBe(200);
    expect(
      (
        await putExperiment('gone-rules', {
          variants: [
            { name: 'keep', weight: 1 },
            { name: 'gone', weight: 1, placement: 'exp-gone' },
          ],
        })
      ).status,
    ).toBe(201);
    // used by a variant, or as the scope of an experiment (home-rules runs on exp-home, its variant uses exp-home-b)
    for (const [name, experiment] of [
      ['exp-gone', 'gone-rules'],
      ['exp-home', 'home-rules'],
      ['exp-home-b', 'home-rules'],
    ]) {
      const res = await placement(name, 'DELETE');
      expect(res.status, name).toBe(409);
      const body = await getJson(res);
      expect(body.error.code).toBe('placement_in_use');
      expect(body.error.message).toContain(experiment);
    }
    const listed = await getJson(await SELF.fetch('http://x/admin/placements', { headers: ADMIN }));
    expect(listed.placements.map((p: { name: string }) => p.name)).toEqual(expect.arrayContaining(['exp-gone', 'exp-home', 'exp-home-b']));
    // a placement no running experiment uses still goes (exp-side's experiments were all stopped)
    expect((await placement('exp-side', 'DELETE')).status).toBe(200);
  });

  it("serves the variant's shoppers without it if it disappears anyway (a delete racing a start), never a 404 for a placement they did not name", async () => {
    // what a delete that raced the experiment's start would leave: the placement gone, the experiment running
    await env.CATALOG.get(env.CATALOG.idFromName('catalog')).deletePlacement('exp-gone');
    await vi.waitFor(async () => expect((await SELF.fetch('http://x/v1/popular?k=1&placement=exp-gone')).status).toBe(404), {
      timeout: 30_000,
      interval: 500,
    });
    const errors = vi.spyOn(console, 'error');
    const variants = new Set<string>();
    for (let s = 0; s < 16; s++) {
      const res = await SELF.fetch(`http://x/v1/popular?k=3&sessionId=gone-${s}`);
      expect(res.status, `gone-${s}`).toBe(200);
      const body = await getJson<Rec>(res);
      expect(body.experiment).toBe('gone-rules');
      expect(body.placement).toBeUndefined();
      variants.add(body.variant as string);
    }
    expect(variants).toEqual(new Set(['keep', 'gone']));
    expect(errors).not.toHaveBeenCalled();
    errors.mockRestore();
    // a request that names a placement of its own keeps it
    expect((await placement('exp-own')).status).toBe(200);
    for (let s = 0; s < 8; s++) {
      const body = await getJson<Rec>(await SELF.fetch(`http://x/v1/popular?k=3&placement=exp-own&sessionId=gone-${s}`));
      expect(body.placement?.name).toBe('exp-own');
    }
    expect((await SELF.fetch('http://x/admin/experiments/gone-rules/stop', { method: 'POST', headers: ADMIN })).status).toBe(200);
  });
  it("answers 404 to every shopper for a placement nobody defined, whatever their variant's own placement", async () => {
    const started = await putExperiment('typo-rules', {
      variants: [
        { name: 'plain', weight: 1 },
        { name: 'rules', weight: 1, placement: 'exp-own' },
      ],
    });
    expect(started.status).toBe(201);
    const variants = new Set<string>();
    for (let s = 0; s < 16; s++) {
      const res = await SELF.fetch(`http://x/v1/popular?k=3&placement=exp-typo&sessionId=typo-${s}`);
      expect(res.status, `typo-${s}`).toBe(404);
      expect((await getJson(res)).error.code).toBe('placement_not_found');
      // both variants are among these shoppers: without the misspelt name they are served, each its own way
      variants.add((await getJson<Rec>(await SELF.fetch(`http://x/v1/popular?k=3&sessionId=typo-${s}`))).variant as string);
    }
    expect(variants).toEqual(new Set(['plain', 'rules']));
    expect((await SELF.fetch('http://x/admin/experiments/typo-rules/stop', { method: 'POST', headers: ADMIN })).status).toBe(200);
  });
});

describe('a variant whose model version lost its files while the experiment runs', () => {
  it("answers the variant's shoppers from the active model, never a 500, logs it once and shows it to operators", async () => {
    // activated by another isolate (its own registry): this one has never loaded miss-v1
    const elsewhere = () => ({
      ...refreshDeps(env),
      models: bindRegistry(new ModelRegistry(), { kv: env.RECS_KV, bucket: env.MODELS, config: configFrom(env), bundled: bundledSource }),
    });
    await publishFixture(await buildFixture({ version: 'miss-v1' }));
    expect((await refreshModel(elsewhere())).outcome).toBe('activated');
    expect(
      (
        await putExperiment('missing', {
          variants: [
            { name: 'control', weight: 1 },
            { name: 'pinned', weight: 1, modelVersion: 'miss-v1' },
          ],
        })
      ).status,
    ).toBe(201);
    await publishFixture(await buildFixture({ version: 'miss-v2' }));
    expect((await refreshModel(elsewhere())).outcome).toBe('activated');
    // the pinned version's manifest disappears from the bucket
    await env.MODELS.delete(`models/miss-v1/${FILES.manifest}`);

    const errors = vi.spyOn(console, 'error').mockImplementation(() => {});
    const variants = new Set<string>();
    let pinned: string | undefined;
    try {
      for (let s = 0; s < 16; s++) {
        const res = await SELF.fetch(`http://x/v1/popular?k=3&sessionId=miss-${s}`);
        expect(res.status, `miss-${s}`).toBe(200);
        const body = await getJson<Rec>(res);
        expect(body.experiment).toBe('missing');
        variants.add(body.variant as string);
        expect(body.model).toBe('miss-v2');
        expect(res.headers.get('x-model-version')).toBe('miss-v2');
        if (body.variant === 'pinned') pinned = `miss-${s}`;
      }
      expect(variants).toEqual(new Set(['control', 'pinned']));
      // a signed-in shopper of the variant, and their events
      for (const user of ['u0-1', 'u1-2', 'u2-3', 'u3-4', 'u0-5', 'u1-6']) {
        const res = await SELF.fetch(`http://x/v1/users/${user}/recommendations?k=3`);
        expect(res.status, user).toBe(200);
        expect((await getJson<Rec>(res)).model).toBe('miss-v2');
      }
      const events = await SELF.fetch('http://x/v1/events', {
        method: 'POST',
        headers: KEY,
        body: JSON.stringify({ userId: pinned, itemId: 'B1-I2', type: 'click' }),
      });
      expect(events.status).toBe(200);
      const logged = errors.mock.calls.filter(([m]) => String(m).includes('miss-v1'));
      expect(logged).toHaveLength(1);
    } finally {
      errors.mockRestore();
    }
    // operators see it next to the active version's damaged files
    const admin = await getJson(await SELF.fetch('http://x/admin/refresh', { headers: ADMIN }));
    expect(admin.damaged[`miss-v1/${FILES.manifest}`].reason).toMatch(/manifest.json of miss-v1 is missing/);
    // the counters name the version that served: the variant keeps its label, the version is the active one
    await vi.waitFor(
      async () => {
        const r = await getJson(await SELF.fetch('http://x/admin/metrics?experiment=missing&groupBy=version', { headers: ADMIN }));
        expect(r.groups.map((g: { version: string }) => g.version)).toEqual(['miss-v2']);
        expect(r.groups[0].answers).toBe(22);
      },
      { timeout: 5000 },
    );
    expect((await SELF.fetch('http://x/admin/experiments/missing/stop', { method: 'POST', headers: ADMIN })).status).toBe(200);
  });
});
