/**
 * A minimal builder for the small ONNX graphs behind the statistics kernels: typed inputs
 * with symbolic dims, nodes with int/ints/float attributes, int64 constants. It serialises
 * to ModelProto bytes that onnxruntime loads from a buffer (no external data).
 */
import { create, toBinary } from '@bufbuild/protobuf';
import {
  AttributeProtoSchema,
  AttributeProto_AttributeType,
  GraphProtoSchema,
  ModelProtoSchema,
  NodeProtoSchema,
  OperatorSetIdProtoSchema,
  TensorProtoSchema,
  TensorProto_DataType,
  TensorShapeProtoSchema,
  TensorShapeProto_DimensionSchema,
  TypeProtoSchema,
  TypeProto_TensorSchema,
  ValueInfoProtoSchema,
  type AttributeProto,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from 'onnx-buf';

export type ElemType = 'float32' | 'float64' | 'int64';
/** an attribute value: integer, integer list or float (strings are not needed here) */
export type AttrValue = number | number[] | { float: number };

const ELEM: Record<ElemType, TensorProto_DataType> = {
  float32: TensorProto_DataType.FLOAT,
  float64: TensorProto_DataType.DOUBLE,
  int64: TensorProto_DataType.INT64,
};

export interface GraphBuilder {
  /** declares a graph input; dims are numbers (fixed) or strings (symbolic) */
  input(name: string, elem: ElemType, dims: Array<number | string>): string;
  /** declares an existing value as a graph output */
  output(name: string, elem: ElemType, dims: Array<number | string>): void;
  /** adds one node and returns the name of its (first) output */
  node(op: string, inputs: string[], attrs?: Record<string, AttrValue>, domain?: string): string;
  /** an int64 constant (shapes, axes) as an initializer */
  ints(values: number[]): string;
  /** a scalar constant of the graph's element type */
  scalar(value: number, elem: ElemType): string;
  /** serialised ModelProto */
  toBytes(): Uint8Array;
}

/** Starts a graph at opset 17 (every op used here is stable there); names are generated. */
export function createGraph(name: string): GraphBuilder {
  const inputs: ValueInfoProto[] = [];
  const outputs: ValueInfoProto[] = [];
  const nodes: NodeProto[] = [];
  const initializers: TensorProto[] = [];
  let counter = 0;
  const fresh = (prefix: string) => `${prefix}_${counter++}`;

  const valueInfo = (nm: string, elem: ElemType, dims: Array<number | string>) =>
    create(ValueInfoProtoSchema, {
      name: nm,
      type: create(TypeProtoSchema, {
        value: {
          case: 'tensorType',
          value: create(TypeProto_TensorSchema, {
            elemType: ELEM[elem],
            shape: create(TensorShapeProtoSchema, {
              dim: dims.map((dv) =>
                create(TensorShapeProto_DimensionSchema, {
                  value: typeof dv === 'number' ? { case: 'dimValue', value: BigInt(dv) } : { case: 'dimParam', value: dv },
                }),
              ),
            }),
          }),
        },
      }),
    });

  const attribute = (nm: string, v: AttrValue): AttributeProto => {
    if (typeof v === 'number') return create(AttributeProtoSchema, { name: nm, type: AttributeProto_AttributeType.INT, i: BigInt(v) });
    if (Array.isArray(v)) return create(AttributeProtoSchema, { name: nm, type: AttributeProto_AttributeType.INTS, ints: v.map((x) => BigInt(x)) });
    return create(AttributeProtoSchema, { name: nm, type: AttributeProto_AttributeType.FLOAT, f: v.float });
  };

  return {
    input(nm, elem, dims) {
      inputs.push(valueInfo(nm, elem, dims));
      return nm;
    },
    output(nm, elem, dims) {
      outputs.push(valueInfo(nm, elem, dims));
    },
    node(op, ins, attrs = {}, domain = '') {
      const out = fresh(op);
      nodes.push(
        create(NodeProtoSchema, {
          opType: op,
          domain,
          name: out,
          input: ins,
          output: [out],
          attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
        }),
      );
      return out;
    },
    ints(values) {
      const nm = fresh('const_i64');
      initializers.push(
        create(TensorProtoSchema, { name: nm, dataType: TensorProto_DataType.INT64, dims: [BigInt(values.length)], int64Data: values.map((x) => BigInt(x)) }),
      );
      return nm;
    },
    scalar(value, elem) {
      const nm = fresh('const_scalar');
      initializers.push(
        elem === 'float32'
          ? create(TensorProtoSchema, { name: nm, dataType: ELEM[elem], dims: [], floatData: [value] })
          : create(TensorProtoSchema, { name: nm, dataType: ELEM[elem], dims: [], doubleData: [value] }),
      );
      return nm;
    },
    toBytes() {
      const graph = create(GraphProtoSchema, { name, node: nodes, input: inputs, output: outputs, initializer: initializers });
      const model = create(ModelProtoSchema, {
        irVersion: 8n,
        producerName: 'poc-stats',
        opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: 17n })],
        graph,
      });
      return toBinary(ModelProtoSchema, model);
    },
  };
}
