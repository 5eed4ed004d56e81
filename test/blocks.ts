/**
 * Seeded interaction data with a planted answer, shared by trainer tests (Node) and Worker tests
 * (workerd): items form blocks and every user buys only inside one block, so a correct model
 * with as many factors as blocks recommends a user's own block and scores every other block 0.
 */
import { Rng } from '../model/rng';
import { type Csr, csrFromTriples } from '../model/sparse';

export interface BlockData {
  userIds: string[];
  itemIds: string[];
  titles: string[];
  matrix: Csr;
  /** block of each item / user */
  itemBlock: number[];
  userBlock: number[];
}

export interface BlockOptions {
  blocks?: number;
  itemsPerBlock?: number;
  usersPerBlock?: number;
  itemsPerUser?: number;
  seed?: number;
  /** strengths are drawn uniformly from 1..maxStrength */
  maxStrength?: number;
}

export function blockData(opts: BlockOptions = {}): BlockData {
  const blocks = opts.blocks ?? 4,
    ipb = opts.itemsPerBlock ?? 12,
    upb = opts.usersPerBlock ?? 30,
    ipu = opts.itemsPerUser ?? 5;
  const maxStrength = opts.maxStrength ?? 3;
  const rng = new Rng(opts.seed ?? 7);
  const itemIds: string[] = [],
    titles: string[] = [],
    itemBlock: number[] = [];
  for (let b = 0; b < blocks; b++)
    for (let j = 0; j < ipb; j++) {
      itemIds.push(`B${b}-I${j}`);
      titles.push(`Block ${b} item ${j}`);
      itemBlock.push(b);
    }
  const userIds: string[] = [],
    userBlock: number[] = [];
  const r: number[] = [],
    c: number[] = [],
    v: number[] = [];
  for (let b = 0; b < blocks; b++)
    for (let u = 0; u < upb; u++) {
      const uid = userIds.length;
      userIds.push(`u${b}-${u}`);
      userBlock.push(b);
      const picks = Array.from({ length: ipb }, (_, j) => b * ipb + j);
      rng.shuffle(picks);
      for (const i of picks.slice(0, ipu)) {
        r.push(uid);
        c.push(i);
        v.push(1 + rng.int(maxStrength));
      }
    }
  const matrix = csrFromTriples(userIds.length, itemIds.length, Int32Array.from(r), Int32Array.from(c), Float32Array.from(v));
  return { userIds, itemIds, titles, matrix, itemBlock, userBlock };
}
