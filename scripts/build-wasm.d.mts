/** Assembles src/inference/*.wat into build/*.wasm; returns the written paths. */
export function buildWasm(): Promise<string[]>;
