/**
 * Builds the ONNX scoring graph served at the edge, with the maintained `onnx-proto` protobuf
 * definitions (no hand-rolled protobuf encoding).
 *
 * Graph (opset 13). The item factors are an initializer, so the edge uploads them to onnxruntime's
 * WebAssembly heap once per model version instead of once per request; the initializer's bytes are
 * stored as ONNX *external data* pointing at the artifact's own `item_factors.f32`, so the graph
 * file stays a few hundred bytes and the factors are not stored twice:
 *
 *   user  float[batch, D] ─┐
 *                          Gemm(transB=1) with item_factors float[N, D] ──► scores float[batch, N]
 *   mask  float[batch, N] ─── Add ──► masked ──► TopK(k, axis=-1, largest, sorted) ──► top_values, top_indices
 *   k     int64[1]       ─────────────────────┘
 *
 * `mask` is additive: 0 to keep an item, -3.4e38 to exclude it (already bought, in the basket).
 */
import onnxProto from 'onnx-proto';

const { onnx } = onnxProto;

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;

/** The additive mask value for an excluded item, shared with the Worker's scorer. */
export { MASK_EXCLUDED } from '@edge-recs/core/manifest';

function valueInfo(name: string, elemType: number, dims: (number | string)[]) {
  return onnx.ValueInfoProto.create({
    name,
    type: {
      tensorType: {
        elemType,
        shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) },
      },
    },
  });
}

/**
 * @param externalFile  artifact file holding the N×D float32 item factors (row-major, little-endian)
 */
export function buildScoringGraph(itemCount: number, dims: number, version: string, externalFile: string): Uint8Array {
  const factors = onnx.TensorProto.create({
    name: 'item_factors',
    dims: [itemCount, dims],
    dataType: FLOAT,
    dataLocation: onnx.TensorProto.DataLocation.EXTERNAL,
    externalData: [
      { key: 'location', value: externalFile },
      { key: 'offset', value: '0' },
      { key: 'length', value: String(itemCount * dims * 4) },
    ],
  });
  const graph = onnx.GraphProto.create({
    name: 'ials_scoring',
    initializer: [factors],
    input: [valueInfo('user', FLOAT, ['batch', dims]), valueInfo('mask', FLOAT, ['batch', itemCount]), valueInfo('k', INT64, [1])],
    output: [
      valueInfo('scores', FLOAT, ['batch', itemCount]),
      valueInfo('top_values', FLOAT, ['batch', 'k']),
      valueInfo('top_indices', INT64, ['batch', 'k']),
    ],
    node: [
      onnx.NodeProto.create({
        name: 'dot',
        opType: 'Gemm',
        input: ['user', 'item_factors'],
        output: ['scores'],
        attribute: [onnx.AttributeProto.create({ name: 'transB', type: onnx.AttributeProto.AttributeType.INT, i: 1 })],
      }),
      onnx.NodeProto.create({ name: 'exclude', opType: 'Add', input: ['scores', 'mask'], output: ['masked'] }),
      onnx.NodeProto.create({
        name: 'topk',
        opType: 'TopK',
        input: ['masked', 'k'],
        output: ['top_values', 'top_indices'],
        attribute: [
          onnx.AttributeProto.create({ name: 'axis', type: onnx.AttributeProto.AttributeType.INT, i: -1 }),
          onnx.AttributeProto.create({ name: 'largest', type: onnx.AttributeProto.AttributeType.INT, i: 1 }),
          onnx.AttributeProto.create({ name: 'sorted', type: onnx.AttributeProto.AttributeType.INT, i: 1 }),
        ],
      }),
    ],
  });
  const model = onnx.ModelProto.create({
    irVersion: 7,
    producerName: 'edge-recommender',
    modelVersion: 1,
    docString: `iALS scoring graph for model ${version}`,
    opsetImport: [{ domain: '', version: 13 }],
    graph,
  });
  return onnx.ModelProto.encode(model).finish();
}
