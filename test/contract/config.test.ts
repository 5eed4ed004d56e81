/**
 * wrangler.toml and src/config.ts tell one story: every variable the Worker reads is declared in
 * wrangler.toml with a comment, and its value there is the default config.ts applies when it is
 * unset (so the staging environment, which sets only what differs, behaves like production).
 */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { configFrom } from '../../src/config';

const bindings = {
  RECS_KV: { get() {} },
  MODELS: { get() {} },
  USER_HISTORY: { idFromName() {} },
  ERASURE_JOBS: { idFromName() {} },
  CATALOG: { idFromName() {} },
  TRENDING: { idFromName() {} },
  METRICS: { idFromName() {} },
  EXPERIMENTS: { idFromName() {} },
};

async function tomlVars(): Promise<{ name: string; value: string; comment: string }[]> {
  const toml = await readFile('wrangler.toml', 'utf8');
  const section = toml.slice(toml.indexOf('\n[vars]'), toml.indexOf('\n[env.'));
  const out: { name: string; value: string; comment: string }[] = [];
  let comment = '';
  for (const line of section.split('\n')) {
    if (line.startsWith('#')) comment += line;
    const m = /^([A-Z0-9_]+)\s*=\s*"([^"]*)"/.exec(line);
    if (m) {
      out.push({ name: m[1], value: m[2], comment });
      comment = '';
    }
  }
  return out;
}

describe('wrangler.toml [vars]', () => {
  it('gives every variable a comment', async () => {
    for (const v of await tomlVars()) expect(v.comment, v.name).not.toBe('');
  });

  it('holds exactly the defaults of src/config.ts', async () => {
    const vars = Object.fromEntries((await tomlVars()).map((v) => [v.name, v.value]));
    expect(configFrom({ ...bindings, ...vars } as unknown as Env)).toEqual(configFrom({ ...bindings } as unknown as Env));
  });

  it('declares every variable the config reads (secrets aside)', async () => {
    const declared = new Set((await tomlVars()).map((v) => v.name));
    const source = await readFile('src/config.ts', 'utf8');
    const read = [...source.matchAll(/^ {2}([A-Z][A-Z0-9_]+):/gm)].map((m) => m[1]);
    const secrets = ['ADMIN_TOKEN', 'API_KEY', 'USER_ID_SECRET', 'ORIGIN_TOKEN'];
    expect(read.filter((n) => !secrets.includes(n)).sort()).toEqual([...declared].sort());
  });
});
