/**
 * The subset of onnx.proto (github.com/onnx/onnx, onnx/onnx.proto, IR version 7) that a
 * convolutional inference graph needs, as a protobufjs JSON descriptor. Field numbers and
 * types are onnx.proto's; messages and fields we never write are left out (a protobuf
 * reader skips nothing it does not know, and we only write). No code generation step:
 * protobufjs builds the codecs from this object at load time, in Node and in browsers.
 */
import protobuf from 'protobufjs/light.js';

/** `TensorProto.DataType` values used here. */
export const DataType = { FLOAT: 1, INT64: 7 } as const;

/** `AttributeProto.AttributeType` values used here. */
export const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7 } as const;

/** IR version 7 is the one that goes with opset 13 (ONNX 1.8). */
export const IR_VERSION = 7;
/** The default-domain opset every graph here is written for. */
export const OPSET = 13;

const field = (id: number, type: string, rule?: 'repeated') => (rule ? { id, type, rule } : { id, type });

const descriptor = {
  nested: {
    onnx: {
      nested: {
        AttributeProto: {
          fields: {
            name: field(1, 'string'),
            f: field(2, 'float'),
            i: field(3, 'int64'),
            s: field(4, 'bytes'),
            floats: field(7, 'float', 'repeated'),
            ints: field(8, 'int64', 'repeated'),
            doc_string: field(13, 'string'),
            type: field(20, 'int32'),
          },
        },
        ValueInfoProto: {
          fields: { name: field(1, 'string'), type: field(2, 'TypeProto'), doc_string: field(3, 'string') },
        },
        NodeProto: {
          fields: {
            input: field(1, 'string', 'repeated'),
            output: field(2, 'string', 'repeated'),
            name: field(3, 'string'),
            op_type: field(4, 'string'),
            attribute: field(5, 'AttributeProto', 'repeated'),
            doc_string: field(6, 'string'),
            domain: field(7, 'string'),
          },
        },
        ModelProto: {
          fields: {
            ir_version: field(1, 'int64'),
            producer_name: field(2, 'string'),
            producer_version: field(3, 'string'),
            domain: field(4, 'string'),
            model_version: field(5, 'int64'),
            doc_string: field(6, 'string'),
            graph: field(7, 'GraphProto'),
            opset_import: field(8, 'OperatorSetIdProto', 'repeated'),
            metadata_props: field(14, 'StringStringEntryProto', 'repeated'),
          },
        },
        StringStringEntryProto: { fields: { key: field(1, 'string'), value: field(2, 'string') } },
        GraphProto: {
          fields: {
            node: field(1, 'NodeProto', 'repeated'),
            name: field(2, 'string'),
            initializer: field(5, 'TensorProto', 'repeated'),
            doc_string: field(10, 'string'),
            input: field(11, 'ValueInfoProto', 'repeated'),
            output: field(12, 'ValueInfoProto', 'repeated'),
            value_info: field(13, 'ValueInfoProto', 'repeated'),
          },
        },
        TensorProto: {
          fields: {
            dims: field(1, 'int64', 'repeated'),
            data_type: field(2, 'int32'),
            float_data: field(4, 'float', 'repeated'),
            int64_data: field(7, 'int64', 'repeated'),
            name: field(8, 'string'),
            raw_data: field(9, 'bytes'),
            doc_string: field(12, 'string'),
          },
        },
        TensorShapeProto: {
          fields: { dim: field(1, 'Dimension', 'repeated') },
          nested: {
            Dimension: {
              oneofs: { value: { oneof: ['dim_value', 'dim_param'] } },
              fields: { dim_value: field(1, 'int64'), dim_param: field(2, 'string'), denotation: field(3, 'string') },
            },
          },
        },
        TypeProto: {
          oneofs: { value: { oneof: ['tensor_type'] } },
          fields: { tensor_type: field(1, 'Tensor'), denotation: field(6, 'string') },
          nested: { Tensor: { fields: { elem_type: field(1, 'int32'), shape: field(2, 'TensorShapeProto') } } },
        },
        OperatorSetIdProto: { fields: { domain: field(1, 'string'), version: field(2, 'int64') } },
      },
    },
  },
};

const root = protobuf.Root.fromJSON(descriptor);
const ModelProto = root.lookupType('onnx.ModelProto');

// ---- Plain-object shapes of the messages (what encodeModel takes) ----

/** One dimension: a fixed size, or a symbolic name (`batch`), or unknown (neither). */
export interface Dim {
  dim_value?: number;
  dim_param?: string;
}
export interface ValueInfo {
  name: string;
  type: { tensor_type: { elem_type: number; shape: { dim: Dim[] } } };
  doc_string?: string;
}
export interface Attribute {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  floats?: number[];
  ints?: number[];
}
export interface NodeProto {
  name: string;
  op_type: string;
  input: string[];
  output: string[];
  attribute: Attribute[];
  domain?: string;
  doc_string?: string;
}
export interface TensorProto {
  name: string;
  data_type: number;
  dims: number[];
  /**
   * Little-endian element bytes (ONNX's `raw_data`); absent from a decoded model when empty or
   * when the file keeps the values in `float_data` (decodeModel does not fill defaults).
   */
  raw_data?: Uint8Array;
}
export interface GraphProto {
  name: string;
  node: NodeProto[];
  initializer: TensorProto[];
  input: ValueInfo[];
  output: ValueInfo[];
  doc_string?: string;
}
export interface ModelProtoObject {
  ir_version: number;
  opset_import: { domain: string; version: number }[];
  producer_name: string;
  producer_version: string;
  doc_string?: string;
  graph: GraphProto;
  metadata_props?: { key: string; value: string }[];
}

/** Serializes a model to ONNX bytes. */
export function encodeModel(model: ModelProtoObject): Uint8Array {
  const err = ModelProto.verify(model);
  if (err) throw new Error(`internal: invalid ONNX model object: ${err}`);
  return ModelProto.encode(ModelProto.fromObject(model)).finish();
}

/**
 * Parses ONNX bytes into plain objects (int64 fields as numbers, bytes as Uint8Array),
 * for inspecting graphs in tests and tools. Only the fields of the subset above survive.
 */
export function decodeModel(bytes: Uint8Array): ModelProtoObject {
  const msg = ModelProto.decode(bytes);
  return ModelProto.toObject(msg, { longs: Number, defaults: false, arrays: true }) as ModelProtoObject;
}
