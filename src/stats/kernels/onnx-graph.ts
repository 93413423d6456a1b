/**
 * A minimal builder for the small ONNX graphs behind the statistics kernels: typed inputs
 * with symbolic dims, nodes with int/ints/float attributes, int64 constants. It serialises
 * to ModelProto bytes that onnxruntime loads from a buffer (no external data).
 */
import { create, toBinary } from '@bufbuild/protobuf';
import {
  GraphProtoSchema,
  ModelProtoSchema,
  OperatorSetIdProtoSchema,
  TensorProtoSchema,
  TensorProto_DataType,
  type NodeProto,
  type TensorProto,
  type ValueInfoProto,
} from 'onnx-buf';
import { int64Tensor, makeNode, valueInfo } from '../../model/graph/onnx-graph.js';

export type ElemType = 'float32' | 'float64' | 'int64' | 'int32';
/** an attribute value: integer, integer list or float (strings are not needed here) */
export type AttrValue = number | number[] | { float: number };

const ELEM: Record<ElemType, TensorProto_DataType> = {
  float32: TensorProto_DataType.FLOAT,
  float64: TensorProto_DataType.DOUBLE,
  int64: TensorProto_DataType.INT64,
  int32: TensorProto_DataType.INT32,
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

  return {
    input(nm, elem, dims) {
      inputs.push(valueInfo(nm, ELEM[elem], dims));
      return nm;
    },
    output(nm, elem, dims) {
      outputs.push(valueInfo(nm, ELEM[elem], dims));
    },
    node(op, ins, attrs = {}, domain = '') {
      const out = fresh(op);
      nodes.push(makeNode(op, ins, [out], out, attrs, domain));
      return out;
    },
    ints(values) {
      const nm = fresh('const_i64');
      initializers.push(int64Tensor(nm, values));
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
