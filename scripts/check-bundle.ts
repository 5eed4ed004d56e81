/**
 * `npm run check:bundle`: builds the deployable Worker exactly as `wrangler deploy` would
 * (`wrangler deploy --dry-run --outdir`), without uploading, and fails when the script and its
 * modules exceed the Worker size limit, so a release never fails at upload. Prints the sizes.
 * The check is on the uncompressed modules (the stricter reading of the 64 MiB limit; the
 * compressed size is printed too); WORKER_SIZE_LIMIT_MIB lowers it for a plan with a smaller one.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

const limitMiB = Number(process.env.WORKER_SIZE_LIMIT_MIB ?? 64);
const out = await mkdtemp(join(tmpdir(), 'worker-bundle-'));
try {
  execFileSync('node_modules/.bin/wrangler', ['deploy', '--dry-run', '--outdir', out], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, CI: 'true' },
  });
  const rows: { file: string; bytes: number; gzip: number }[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const name of await readdir(dir)) {
      const path = join(dir, name);
      if ((await stat(path)).isDirectory()) await walk(path);
      else if (!name.endsWith('.map')) {
        const bytes = await readFile(path);
        rows.push({ file: path.slice(out.length + 1), bytes: bytes.length, gzip: gzipSync(bytes).length });
      }
    }
  };
  await walk(out);
  rows.sort((a, b) => b.bytes - a.bytes);
  const mib = (n: number) => (n / 2 ** 20).toFixed(2);
  for (const r of rows.slice(0, 8)) console.log(`${mib(r.bytes).padStart(8)} MiB  (gzip ${mib(r.gzip).padStart(6)} MiB)  ${r.file}`);
  const total = rows.reduce((s, r) => s + r.bytes, 0);
  const gzip = rows.reduce((s, r) => s + r.gzip, 0);
  console.log(`Worker bundle: ${rows.length} files, ${mib(total)} MiB, ${mib(gzip)} MiB compressed; limit ${limitMiB} MiB`);
  if (total > limitMiB * 2 ** 20) {
    console.error(`the Worker is over the ${limitMiB} MiB size limit`);
    process.exitCode = 1;
  }
} finally {
  await rm(out, { recursive: true, force: true });
}
