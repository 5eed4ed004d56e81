/**
 * onnxruntime-web bootstrap for workerd.
 *
 * Why an adapter is needed: workerd refuses to compile WebAssembly from bytes at run time
 * ("Wasm code generation disallowed by embedder"), so the only usable form of ORT's 14 MB
 * binary is the precompiled `WebAssembly.Module` that wrangler hands us when the `.wasm`
 * file is imported as a module. ORT exposes a single hook for supplying the binary,
 * `env.wasm.wasmBinary`, and passes it to its Emscripten loader, which wraps it in a
 * `Uint8Array` and calls `WebAssembly.instantiate(bytes, imports)`.
 *
 * So we give ORT a small marker ArrayBuffer as `wasmBinary`, and for the duration of the
 * initialisation route `WebAssembly.instantiate` calls whose source is a view over that marker
 * to the precompiled module, returning the `{ instance, module }` pair Emscripten expects.
 * Every other call passes through untouched, and the original function is restored afterwards.
 *
 * Initialisation happens once per isolate (the promise is memoised); single-threaded and
 * without the worker proxy, because workerd has neither Web Workers nor cross-origin isolation.
 */

// Imported as a compiled module (wrangler's CompiledWasm rule), never as bytes.
import ortWasmModule from 'onnxruntime-web/ort-wasm-simd-threaded.wasm';
import * as ort from 'onnxruntime-web/wasm';

export type { InferenceSession } from 'onnxruntime-web/wasm';
export { ort };

let ready: Promise<typeof ort> | undefined;

export function initOrt(): Promise<typeof ort> {
  ready ??= boot().catch((err) => {
    ready = undefined; // let a later request retry rather than caching a failure forever
    throw err;
  });
  return ready;
}

async function boot(): Promise<typeof ort> {
  const precompiled = ortWasmModule as unknown as WebAssembly.Module;
  const marker = new ArrayBuffer(8);
  const wasmApi = WebAssembly as { instantiate: (...args: unknown[]) => Promise<unknown> };
  const original = wasmApi.instantiate;
  wasmApi.instantiate = (source: unknown, imports?: unknown) => {
    if (ArrayBuffer.isView(source) && source.buffer === marker) {
      return (original.call(WebAssembly, precompiled, imports) as Promise<WebAssembly.Instance>).then((instance) => ({
        instance,
        module: precompiled,
      }));
    }
    return original.call(WebAssembly, source, imports);
  };
  try {
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.proxy = false;
    ort.env.wasm.wasmBinary = marker;
    ort.env.logLevel = 'error';
    // Creating a session is what triggers the backend initialisation; a trivial model is the
    // cheapest way to force it while the adapter is installed.
    await ort.InferenceSession.create(IDENTITY_MODEL);
  } finally {
    wasmApi.instantiate = original;
  }
  return ort;
}

/**
 * A minimal ONNX model (IR 8, opset 13: y = Identity(x), x: float[1]), 65 bytes as serialised by
 * onnx-proto. Inlined so the bootstrap does not pull the trainer's protobuf library into the
 * Worker bundle. Every float32 model load boots ORT through it, so the parity and refresh tests
 * (test/worker/parity.test.ts, refresh.test.ts) fail if it ever stops loading.
 */
const IDENTITY_MODEL = new Uint8Array([
  0x08, 0x08, 0x3a, 0x37, 0x0a, 0x10, 0x0a, 0x01, 0x78, 0x12, 0x01, 0x79, 0x22, 0x08, 0x49, 0x64, 0x65, 0x6e, 0x74, 0x69, 0x74, 0x79, 0x12,
  0x01, 0x67, 0x5a, 0x0f, 0x0a, 0x01, 0x78, 0x12, 0x0a, 0x0a, 0x08, 0x08, 0x01, 0x12, 0x04, 0x0a, 0x02, 0x08, 0x01, 0x62, 0x0f, 0x0a, 0x01,
  0x79, 0x12, 0x0a, 0x0a, 0x08, 0x08, 0x01, 0x12, 0x04, 0x0a, 0x02, 0x08, 0x01, 0x42, 0x04, 0x0a, 0x00, 0x10, 0x0d,
]);
