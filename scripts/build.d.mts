/** Assembles src/inference/*.wat into build/*.wasm; returns the written paths. */
export function buildWasm(): Promise<string[]>;
/** Writes build/bundled-model.ts for default-model/; returns its path. */
export function bundleDefaultModel(): Promise<string>;
/** Bundles src/pages/client/*.ts into build/<page>.client.ts; returns the written paths. */
export function buildClients(): Promise<string[]>;
/** Everything the Worker build needs; returns the written paths. */
export function build(): Promise<string[]>;
