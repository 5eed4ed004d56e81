/**
 * The CG hot loop (model/wasm/nnz.wat) as WebAssembly SIMD over one shared memory.
 *
 * Why hand-written: per epoch, iALS spends almost all its time in a dot product and an axpy per
 * stored interaction (4 passes × 2 sides × nnz × D). Plain JavaScript tops out near 1 GFLOP/s per
 * core on that; f32x4 SIMD does several times better, and a shared WebAssembly.Memory lets every
 * worker thread read the same factor matrices without copies. The WAT is assembled with wabt at
 * start-up (no build step, no binary in the repository).
 */
import { readFile } from 'node:fs/promises';
import type { NnzKernel } from '../ials';

let compiled: Promise<WebAssembly.Module> | undefined;

export function compileNnzModule(): Promise<WebAssembly.Module> {
  compiled ??= (async () => {
    const { default: wabtInit } = await import('wabt');
    const wabt = await wabtInit();
    const text = await readFile(new URL('./nnz.wat', import.meta.url), 'utf8');
    const parsed = wabt.parseWat('nnz.wat', text, { simd: true, threads: true });
    try {
      // Node's WebAssembly (the Worker types in this project's tsconfig omit compile())
      const wasm = WebAssembly as unknown as { compile(bytes: Uint8Array): Promise<WebAssembly.Module> };
      return await wasm.compile(parsed.toBinary({}).buffer);
    } finally {
      parsed.destroy();
    }
  })();
  return compiled;
}

/** A bump allocator over one shared WebAssembly.Memory sized up front (it never grows). */
export class Arena {
  readonly memory: WebAssembly.Memory;
  private next = 64;
  constructor(bytes: number) {
    const pages = Math.ceil((bytes + 1024) / 65536) + 1;
    this.memory = new WebAssembly.Memory({ initial: pages, maximum: pages, shared: true });
  }
  private take(bytes: number): number {
    const off = (this.next + 15) & ~15;
    this.next = off + bytes;
    if (this.next > this.memory.buffer.byteLength) throw new Error('arena exhausted');
    return off;
  }
  f32(length: number): Float32Array {
    return new Float32Array(this.memory.buffer, this.take(length * 4), length);
  }
  i32(length: number): Int32Array {
    return new Int32Array(this.memory.buffer, this.take(length * 4), length);
  }
  static bytesFor(...lengths: number[]): number {
    return lengths.reduce((n, l) => n + l * 4 + 16, 0);
  }
}

/** Scratch one worker needs: vector, output and two coefficient arrays of the longest row. */
export interface KernelScratch {
  vec: Float32Array;
  out: Float32Array;
  a: Float32Array;
  b: Float32Array;
}

export function allocScratch(arena: Arena, dims: number, maxRow: number): KernelScratch {
  return { vec: arena.f32(dims), out: arena.f32(dims), a: arena.f32(Math.max(1, maxRow)), b: arena.f32(Math.max(1, maxRow)) };
}

export class WasmNnzKernel implements NnzKernel {
  private readonly fn: (...args: number[]) => void;
  constructor(
    instance: WebAssembly.Instance,
    private readonly memory: WebAssembly.Memory,
    private readonly s: KernelScratch,
  ) {
    this.fn = instance.exports.nnz_pass as (...args: number[]) => void;
  }

  static async create(module: WebAssembly.Module, memory: WebAssembly.Memory, s: KernelScratch): Promise<WasmNnzKernel> {
    const instance = await WebAssembly.instantiate(module, { env: { memory } });
    return new WasmNnzKernel(instance, memory, s);
  }

  pass(
    fixed: Float32Array,
    colIdx: Int32Array,
    start: number,
    end: number,
    dims: number,
    vec: Float64Array,
    out: Float64Array,
    a: Float64Array,
    b: Float64Array,
  ): void {
    if (fixed.buffer !== this.memory.buffer || colIdx.buffer !== this.memory.buffer)
      throw new Error('factors and indices must live in the kernel memory');
    const n = end - start;
    const s = this.s;
    for (let i = 0; i < dims; i++) {
      s.vec[i] = vec[i];
      s.out[i] = 0;
    }
    for (let k = 0; k < n; k++) {
      s.a[k] = a[k];
      s.b[k] = b[k];
    }
    this.fn(fixed.byteOffset, colIdx.byteOffset, start, end, dims, s.vec.byteOffset, s.out.byteOffset, s.a.byteOffset, s.b.byteOffset);
    for (let i = 0; i < dims; i++) out[i] += s.out[i];
  }
}
