/**
 * Configuration is parsed once, from wrangler.toml's variables and the secrets, with the defaults
 * in one place; a value that does not parse, or a missing binding, is named — never silently
 * replaced by a default nobody chose.
 */
import { env } from 'cloudflare:test';
import { describe, expect, it, vi } from 'vitest';
import { createApp } from '../../src/app';
import { configFrom } from '../../src/config';
import { getJson } from './fixtures';

describe('configuration', () => {
  const app = createApp();

  it('parses every variable with its unit and keeps the result for the environment', () => {
    const config = configFrom(env);
    expect(config.maxK).toBe(100);
    expect(config.activePointerTtlSeconds).toBe(0); // the test configuration's value
    expect(config.userEmbeddingTtlSeconds).toBe(2_592_000);
    expect(config.eventWeights).toEqual({ view: 0.1, click: 0.2, add_to_cart: 0.5, purchase: 1 });
    expect(config.origin.url).toBeUndefined(); // "" = the MODELS bucket is the origin
    expect(config.secrets.apiKey).toBe('test-api-key');
    expect(configFrom(env)).toBe(config);
  });

  it('answers 500 misconfigured naming a variable that does not parse, and logs it', async () => {
    const log = vi.spyOn(console, 'error').mockImplementation(() => {});
    for (const [name, value] of [
      ['MAX_K', 'lots'],
      ['MAX_K', '0'],
      ['SERVE_BUNDLED_MODEL', 'yes'],
      ['EVENT_WEIGHT_VIEW', '-1'],
      ['ORIGIN_URL', 'ftp://origin'],
    ]) {
      const res = await app.request('/v1/model', undefined, { ...env, [name]: value });
      expect(res.status).toBe(500);
      const body = await getJson(res);
      expect(body.error.code).toBe('misconfigured');
      expect(body.error.message).toContain(name);
    }
    expect(log).toHaveBeenCalled();
    log.mockRestore();
  });

  it('names a missing binding', async () => {
    const log = vi.spyOn(console, 'error').mockImplementation(() => {});
    const res = await app.request('/healthz', undefined, { ...env, MODELS: undefined });
    expect(res.status).toBe(500);
    expect((await getJson(res)).error.message).toMatch(/MODELS/);
    log.mockRestore();
  });

  it('sets x-model-version once, from the version that answered', async () => {
    const res = await app.request('/v1/users/17850/recommendations?k=3', undefined, env);
    const body = await getJson(res);
    expect(res.headers.get('x-model-version')).toBe(body.model);
  });
});
