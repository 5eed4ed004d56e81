// Assembles the Worker's hand-written WebAssembly (src/inference/*.wat) into build/*.wasm.
// workerd refuses to compile WebAssembly from bytes at run time, so the Worker imports the
// assembled file as a module and wrangler hands it over precompiled. Run by wrangler's [build]
// step (dev, deploy) and by vitest.config.ts; writes only when the bytes change, so watchers
// do not loop.
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import wabtInit from 'wabt';

const root = new URL('../', import.meta.url);

/** Assembles every .wat under src/inference into build/<name>.wasm; returns the written paths. */
export async function buildWasm() {
  const wabt = await wabtInit();
  const srcDir = new URL('src/inference/', root);
  const outDir = new URL('build/', root);
  await mkdir(outDir, { recursive: true });
  const written = [];
  for (const name of (await readdir(srcDir)).filter((f) => f.endsWith('.wat'))) {
    const parsed = wabt.parseWat(name, await readFile(new URL(name, srcDir), 'utf8'), { simd: true });
    let bytes;
    try {
      parsed.validate();
      bytes = Buffer.from(parsed.toBinary({}).buffer);
    } finally {
      parsed.destroy();
    }
    const out = new URL(name.replace(/\.wat$/, '.wasm'), outDir);
    const old = await readFile(out).catch(() => null);
    if (!old || !old.equals(bytes)) await writeFile(out, bytes);
    written.push(fileURLToPath(out));
  }
  return written;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const path of await buildWasm()) console.log(`assembled ${path}`);
}
