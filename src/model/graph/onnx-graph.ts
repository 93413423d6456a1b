import { create } from '@bufbuild/protobuf';
import {
  AttributeProtoSchema,
  AttributeProto_AttributeType,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  StringStringEntryProtoSchema,
  TensorProtoSchema,
  TensorProto_DataLocation,
  TensorProto_DataType,
  TensorShapeProtoSchema,
  TensorShapeProto_DimensionSchema,
  TypeProtoSchema,
  TypeProto_TensorSchema,
  ValueInfoProtoSchema,
  type AttributeProto,
  type ModelProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from 'onnx-buf';
import { toHalfArray } from '../half.js';

/** Small helpers over the onnx-buf (ONNX 1.20) messages, shared by builders and surgery. */

/** ONNX element types (TensorProto.DataType), e.g. DT.FLOAT16. */
export const DT = TensorProto_DataType;

/** Attribute values accepted by `attr`: ints/floats/strings/tensors and their lists. */
export type AttrValue = number | bigint | string | number[] | bigint[] | TensorProto | { float: number };

/** One attribute; plain numbers are INT unless wrapped as {float}. */
export function attr(name: string, value: AttrValue): AttributeProto {
  const T = AttributeProto_AttributeType;
  if (typeof value === 'object' && value !== null && 'float' in value && !Array.isArray(value)) {
    return create(AttributeProtoSchema, { name, type: T.FLOAT, f: value.float });
  }
  if (typeof value === 'number' || typeof value === 'bigint') {
    return create(AttributeProtoSchema, { name, type: T.INT, i: BigInt(value) });
  }
  if (typeof value === 'string') {
    return create(AttributeProtoSchema, { name, type: T.STRING, s: new TextEncoder().encode(value) });
  }
  if (Array.isArray(value)) {
    return create(AttributeProtoSchema, { name, type: T.INTS, ints: (value as Array<number | bigint>).map((v) => BigInt(v)) });
  }
  return create(AttributeProtoSchema, { name, type: T.TENSOR, t: value as TensorProto });
}

/** A node; `attrs` is a plain record turned into AttributeProtos in key order. */
export function makeNode(
  opType: string,
  inputs: string[],
  outputs: string[],
  name: string,
  attrs: Record<string, AttrValue> = {},
  domain = '',
): NodeProto {
  return create(NodeProtoSchema, {
    opType,
    input: inputs,
    output: outputs,
    name,
    domain,
    attribute: Object.entries(attrs).map(([k, v]) => attr(k, v)),
  });
}

/** A tensor value info; string dims become symbolic dim_params. */
export function valueInfo(name: string, elemType: number, dims: Array<number | string>): ValueInfoProto {
  return create(ValueInfoProtoSchema, {
    name,
    type: create(TypeProtoSchema, {
      value: {
        case: 'tensorType',
        value: create(TypeProto_TensorSchema, {
          elemType,
          shape: create(TensorShapeProtoSchema, {
            dim: dims.map((d) =>
              create(TensorShapeProto_DimensionSchema, {
                value: typeof d === 'number' ? { case: 'dimValue', value: BigInt(d) } : { case: 'dimParam', value: d },
              }),
            ),
          }),
        }),
      },
    }),
  });
}

/** An inline tensor holding little-endian raw bytes. */
export function rawTensor(name: string, dataType: number, dims: number[], raw: Uint8Array): TensorProto {
  return create(TensorProtoSchema, { name, dataType, dims: dims.map((d) => BigInt(d)), rawData: raw as Uint8Array<ArrayBuffer> });
}

/** Inline int64 tensor (dims [] for a scalar). */
export function int64Tensor(name: string, values: Array<number | bigint>, dims: number[] = [values.length]): TensorProto {
  const arr = new BigInt64Array(values.map((v) => BigInt(v)));
  return rawTensor(name, DT.INT64, dims, new Uint8Array(arr.buffer));
}

/** Inline float tensor of the given element type (FLOAT or FLOAT16). */
export function floatTensor(name: string, elemType: number, values: ArrayLike<number>, dims: number[]): TensorProto {
  if (elemType === DT.FLOAT16) return rawTensor(name, elemType, dims, new Uint8Array(toHalfArray(values).buffer));
  if (elemType === DT.FLOAT) return rawTensor(name, elemType, dims, new Uint8Array(Float32Array.from(values).buffer));
  throw new Error(`floatTensor: unsupported element type ${elemType}`);
}

/** Bytes of one element of a float type, for external-data lengths. */
export function elemBytes(elemType: number): number {
  if (elemType === DT.FLOAT || elemType === DT.INT32) return 4;
  if (elemType === DT.FLOAT16) return 2;
  if (elemType === DT.INT64) return 8;
  if (elemType === DT.UINT8 || elemType === DT.BOOL) return 1;
  throw new Error(`elemBytes: unsupported element type ${elemType}`);
}

/**
 * Where the bytes of one external-data initializer come from, so the data file can be
 * written after the graph, tensor by tensor: `hf` stacks the named Hugging Face weights
 * ([out_i, in] each) along out and stores them as they are or transposed to [in, Σ out_i]
 * (torch's MatMul layout); `bytes` holds small computed tables (e.g. RoPE caches).
 */
export type DataSource = { kind: 'hf'; names: string[]; transpose: boolean } | { kind: 'bytes'; data: Uint8Array };

/** One initializer's place in the external data file and the source of its bytes. */
export interface DataSlot {
  name: string;
  offset: number;
  byteLength: number;
  source: DataSource;
}

/**
 * Accumulates a graph the way the PyTorch exporter names it: node `${scope}/${Op}` with
 * `_1`, `_2`… for repeats in a scope and outputs `${node}_output_0`; large weights go to
 * one external-data file (64-byte aligned offsets), small constants stay inline. The graph
 * never holds weight bytes: each weight is a slot the data writer fills later.
 */
export interface GraphBuilder {
  nodes: NodeProto[];
  initializers: TensorProto[];
  /** the external data file's tensors in offset order */
  slots: DataSlot[];
  /** bytes of the external data file (end of the last slot) */
  dataBytes(): number;
  /** add a node named in `scope`; returns its output names */
  op(scope: string, opType: string, inputs: string[], attrs?: Record<string, AttrValue>, opts?: OpOptions): string[];
  /** a Constant node in `scope` holding `tensor`; returns its output name */
  constant(scope: string, tensor: TensorProto): string;
  /** a weight initializer stored in the external data file; returns its name */
  weight(name: string, elemType: number, dims: number[], source: DataSource): string;
}

/** Naming and domain of one node added through GraphBuilder.op. */
export interface OpOptions {
  /** explicit output names (e.g. graph outputs); default `${node}_output_k` */
  outputs?: string[];
  /** number of outputs when not named */
  nOutputs?: number;
  domain?: string;
  /** explicit node name instead of the numbered `${scope}/${opType}` */
  name?: string;
  /** separator between node name and output index: `_output_` (torch) or `/output_` (genai) */
  outputSep?: string;
}

/** A fresh builder writing external data that will live in the file `dataLocation`. */
export function createGraphBuilder(dataLocation: string): GraphBuilder {
  const counts = new Map<string, number>();
  let dataOffset = 0;
  const b: GraphBuilder = {
    nodes: [],
    initializers: [],
    slots: [],
    dataBytes: () => dataOffset,
    op(scope, opType, inputs, attrs = {}, opts = {}) {
      let name = opts.name;
      if (name === undefined) {
        const key = `${scope}/${opType}`;
        const k = counts.get(key) ?? 0;
        counts.set(key, k + 1);
        name = k === 0 ? key : `${key}_${k}`;
      }
      const sep = opts.outputSep ?? '_output_';
      const outputs = opts.outputs ?? Array.from({ length: opts.nOutputs ?? 1 }, (_, i) => `${name}${sep}${i}`);
      b.nodes.push(makeNode(opType, inputs, outputs, name, attrs, opts.domain ?? ''));
      return outputs;
    },
    constant(scope, tensor) {
      const [out] = b.op(scope, 'Constant', [], { value: tensor });
      return out!;
    },
    weight(name, elemType, dims, source) {
      dataOffset += (64 - (dataOffset % 64)) % 64; // the gap stays zero bytes
      const byteLength = dims.reduce((a, d) => a * d, 1) * elemBytes(elemType);
      if (source.kind === 'bytes' && source.data.byteLength !== byteLength) {
        throw new Error(`weight ${name}: ${source.data.byteLength} bytes given, dims need ${byteLength}`);
      }
      const entry = (key: string, value: string) => create(StringStringEntryProtoSchema, { key, value });
      b.initializers.push(
        create(TensorProtoSchema, {
          name,
          dataType: elemType,
          dims: dims.map((d) => BigInt(d)),
          dataLocation: TensorProto_DataLocation.EXTERNAL,
          externalData: [entry('location', dataLocation), entry('offset', String(dataOffset)), entry('length', String(byteLength))],
        }),
      );
      b.slots.push({ name, offset: dataOffset, byteLength, source });
      dataOffset += byteLength;
      return name;
    },
  };
  return b;
}

/** Wrap a finished graph in a ModelProto with the given opset imports. */
export function makeModel(
  b: GraphBuilder,
  graphName: string,
  inputs: ValueInfoProto[],
  outputs: ValueInfoProto[],
  opsets: Record<string, number>,
  producer: string,
): ModelProto {
  const graph = create(GraphProtoSchema, { name: graphName, node: b.nodes, initializer: b.initializers, input: inputs, output: outputs });
  return create(ModelProtoSchema, {
    irVersion: 8n,
    producerName: producer,
    producerVersion: '1',
    opsetImport: Object.entries(opsets).map(([domain, version]) => create(OperatorSetIdProtoSchema, { domain, version: BigInt(version) })),
    graph,
  });
}

/** Bytes of a float weight array as stored (FLOAT or FLOAT16). */
export function weightBytes(values: Float32Array, elemType: number): Uint8Array {
  if (elemType === DT.FLOAT16) return new Uint8Array(toHalfArray(values).buffer);
  return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
}
