/**
 * The int8 scoring kernel as the Worker receives it: build/int8.wasm (assembled from int8.wat by
 * scripts/build.ts) imported as a module, so wrangler hands it over precompiled — workerd
 * refuses to compile WebAssembly bytes at run time. Kept apart from int8.ts so Node (benchmarks)
 * can use the same class with a module it compiled itself.
 */
import int8Wasm from '../../build/int8.wasm';
import { Int8Index } from './int8';

export function createInt8Index(itemCount: number, dims: number): Promise<Int8Index> {
  return Int8Index.create(int8Wasm, itemCount, dims);
}
