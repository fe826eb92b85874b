/**
 * A small append-only ONNX graph builder. Appending nodes in dataflow order keeps the
 * graph topologically sorted by construction; names are checked unique, so the result
 * meets onnx.checker's SSA rules without a separate pass.
 */
import type { Tensor } from '../weights/tensor.js';
import {
  AttributeType,
  DataType,
  type Attribute,
  type Dim,
  type GraphProto,
  type NodeProto,
  type TensorProto,
  type ValueInfo,
} from './proto.js';

/** Attribute values by kind: numbers are INT unless listed in `floats`, arrays are INTS. */
export type AttrValue = number | number[] | string | { float: number };

function attribute(name: string, v: AttrValue): Attribute {
  if (typeof v === 'string') return { name, type: AttributeType.STRING, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: AttributeType.INTS, ints: v };
  if (typeof v === 'object') return { name, type: AttributeType.FLOAT, f: v.float };
  if (!Number.isInteger(v))
    throw new Error(`internal: attribute ${name}=${v} must be an integer (wrap floats as {float})`);
  return { name, type: AttributeType.INT, i: v };
}

/** Little-endian bytes of a float32 array (ONNX raw_data is always little-endian). */
function float32Bytes(data: Float32Array): Uint8Array {
  const out = new Uint8Array(data.length * 4);
  const dv = new DataView(out.buffer);
  for (let i = 0; i < data.length; i++) dv.setFloat32(i * 4, data[i]!, true);
  return out;
}

/** Builds one GraphProto. Values are named by strings; `shape` records what we know of each. */
export class GraphBuilder {
  private readonly nodes: NodeProto[] = [];
  private readonly initializers: TensorProto[] = [];
  private readonly inputs: ValueInfo[] = [];
  private readonly outputs: ValueInfo[] = [];
  /** Every defined value name (inputs, initializers, node outputs) -> its shape. */
  private readonly values = new Map<string, Dim[]>();
  private readonly nodeNames = new Set<string>();
  /** Values some node already reads; such a value can no longer be renamed. */
  private readonly consumed = new Set<string>();

  constructor(readonly name: string) {}

  private define(value: string, shape: Dim[]): void {
    if (this.values.has(value)) throw new Error(`internal: ONNX value '${value}' defined twice`);
    this.values.set(value, shape);
  }

  /** Shape recorded for a value (dims may be symbolic or unknown). */
  shapeOf(value: string): Dim[] {
    const s = this.values.get(value);
    if (!s) throw new Error(`internal: ONNX value '${value}' used before it is defined`);
    return s;
  }

  /** Declares a float32 graph input. */
  input(name: string, shape: Dim[]): string {
    this.define(name, shape);
    this.inputs.push(valueInfo(name, shape));
    return name;
  }

  /** Adds a float32 constant (weights) and returns its value name. */
  initializer(name: string, t: Tensor<'F32'>): string {
    this.define(
      name,
      t.shape.map((d) => ({ dim_value: d })),
    );
    this.initializers.push({ name, data_type: DataType.FLOAT, dims: [...t.shape], raw_data: float32Bytes(t.data) });
    return name;
  }

  /**
   * Appends a node with one output named after the node and returns that value name.
   * `shape` is the output's shape (defaults to the first input's: elementwise ops).
   */
  node(op: string, name: string, inputs: string[], attrs: Record<string, AttrValue> = {}, shape?: Dim[]): string {
    if (this.nodeNames.has(name)) throw new Error(`internal: ONNX node name '${name}' used twice`);
    for (const i of inputs) {
      this.shapeOf(i);
      this.consumed.add(i);
    }
    const out = `${name}:0`;
    this.define(out, shape ?? this.shapeOf(inputs[0]!));
    this.nodeNames.add(name);
    this.nodes.push({
      name,
      op_type: op,
      input: inputs,
      output: [out],
      attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)),
    });
    return out;
  }

  /**
   * Renames a node output that nothing reads yet (so graph outputs can carry their public
   * names, like `features.blocks.3`, without Identity copies) and returns the new name.
   */
  rename(value: string, newName: string): string {
    if (this.consumed.has(value)) throw new Error(`internal: cannot rename '${value}': already read by a node`);
    const producer = this.nodes.find((n) => n.output[0] === value);
    if (!producer) throw new Error(`internal: '${value}' is not a node output`);
    const shape = this.shapeOf(value);
    this.values.delete(value);
    this.define(newName, shape);
    producer.output[0] = newName;
    return newName;
  }

  /** Declares an existing float32 value as a graph output. */
  output(value: string): void {
    this.outputs.push(valueInfo(value, this.shapeOf(value)));
  }

  /** The finished GraphProto. */
  build(docString?: string): GraphProto {
    return {
      name: this.name,
      node: this.nodes,
      initializer: this.initializers,
      input: this.inputs,
      output: this.outputs,
      ...(docString ? { doc_string: docString } : {}),
    };
  }
}

function valueInfo(name: string, shape: Dim[]): ValueInfo {
  return { name, type: { tensor_type: { elem_type: DataType.FLOAT, shape: { dim: shape } } } };
}
