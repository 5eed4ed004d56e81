/**
 * `npx tsx model/cli/unique-pairs.ts --input <csv|csv.gz> --out <file.csv>`
 * Reduces any input the loader reads (e.g. the raw UCI Online Retail export) to its unique
 * `user_id,item_id` pairs: no weights, no quantities, no baskets. Pairs are written in an order in
 * which users and items first appear in the loader's index order (see pairOrder), so loading the
 * output gives the same user and item indices and therefore the same strong-generalisation splits
 * as the original (only the strengths differ).
 */

import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { Command } from 'commander';
import { loadInteractions } from '../data';
import { type Csr, transpose } from '../sparse';
import { run } from './common';

const program = new Command('unique-pairs')
  .description('Write the unique user_id,item_id pairs of an interactions file as a generic CSV')
  .requiredOption('--input <path>', 'interactions CSV (.csv or .csv.gz): generic or UCI Online Retail')
  .requiredOption('--out <file>', 'CSV to write');

/**
 * An order of the unique pairs in which users and items appear for the first time in index order,
 * so the loader interns them with the same indices (split seeds then hold out the same pairs).
 * Greedy: introduce the next user or the next item whenever a pair links it to what is already
 * introduced (or the two link to each other); introducing one never blocks the other, so this
 * finds an order whenever one exists (the input's own row order is one). The rest follow.
 * @param m  users × items CSR with sorted columns per row
 */
export function pairOrder(m: Csr): [number, number][] {
  const t = transpose(m);
  const minItem = (u: number) => (m.rowPtr[u + 1] > m.rowPtr[u] ? m.colIdx[m.rowPtr[u]] : Infinity);
  const minUser = (i: number) => (t.rowPtr[i + 1] > t.rowPtr[i] ? t.colIdx[t.rowPtr[i]] : Infinity);
  const first: [number, number][] = [];
  const used = new Set<string>();
  let nu = 0,
    ni = 0;
  while (nu < m.rows || ni < m.cols) {
    if (nu < m.rows && minItem(nu) < ni) {
      first.push([nu, minItem(nu)]);
      nu++;
    } else if (ni < m.cols && minUser(ni) < nu) {
      first.push([minUser(ni), ni]);
      ni++;
    } else if (nu < m.rows && ni < m.cols && minItem(nu) === ni && minUser(ni) === nu) {
      first.push([nu, ni]);
      nu++;
      ni++;
    } else throw new Error(`no pair order keeps the indices (user ${nu}, item ${ni})`);
  }
  for (const [u, i] of first) used.add(`${u},${i}`);
  const out = first.slice();
  for (let u = 0; u < m.rows; u++)
    for (let p = m.rowPtr[u]; p < m.rowPtr[u + 1]; p++) if (!used.has(`${u},${m.colIdx[p]}`)) out.push([u, m.colIdx[p]]);
  return out;
}

await run(async () => {
  program.parse();
  const o = program.opts();
  const ds = await loadInteractions(o.input);
  const m = ds.matrix;
  const out = createWriteStream(o.out);
  const quote = (s: string) => (/[",\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  out.write('user_id,item_id\n');
  for (const [u, i] of pairOrder(m)) if (!out.write(`${quote(ds.userIds[u])},${quote(ds.itemIds[i])}\n`)) await once(out, 'drain');
  out.end();
  await once(out, 'finish');
  console.log(`wrote ${m.rowPtr[m.rows]} unique pairs of ${m.rows} users × ${m.cols} items to ${o.out}`);
});
