/**
 * The structural rules of onnx.checker that apply to our graphs, re-implemented for
 * tests (no Python onnx here): opset/IR, unique node names, SSA values, topological
 * order, typed initializers with consistent byte sizes, typed inputs/outputs.
 */
import { decodeModel, type ModelProtoObject, type NodeProto } from '../../src/onnx/proto.js';

/**
 * What the checker reads, as decodeModel really returns it: fields holding their default
 * (empty, zero) are absent, so a broken file must not crash the checker.
 */
interface DecodedValue {
  name: string;
  type?: { tensor_type?: { elem_type?: number } };
}
interface DecodedModel {
  ir_version?: number;
  opset_import: { domain?: string; version?: number }[];
  graph: {
    input: DecodedValue[];
    output: DecodedValue[];
    initializer: { name: string; data_type?: number; dims?: number[]; raw_data?: Uint8Array }[];
    node: NodeProto[];
  };
}

const OPS = new Set([
  'Conv',
  'BatchNormalization',
  'Relu',
  'Add',
  'Mul',
  'GlobalAveragePool',
  'HardSigmoid',
  'Flatten',
  'Reshape',
  'Gemm',
]);

/** Returns the list of rule violations (empty when the model passes). */
export function checkOnnx(bytes: Uint8Array): { problems: string[]; model: ModelProtoObject } {
  const model = decodeModel(bytes);
  const decoded: DecodedModel = model;
  const problems: string[] = [];
  if (decoded.ir_version !== 7) problems.push(`ir_version ${decoded.ir_version ?? 0}`);
  if (
    decoded.opset_import.length !== 1 ||
    decoded.opset_import[0]!.version !== 13 ||
    (decoded.opset_import[0]!.domain ?? '') !== ''
  )
    problems.push('opset is not ai.onnx 13');
  const g = decoded.graph;
  const defined = new Set<string>();
  for (const i of g.input) {
    if (i.type?.tensor_type?.elem_type !== 1) problems.push(`input ${i.name} not float32-typed`);
    defined.add(i.name);
  }
  for (const t of g.initializer) {
    if (defined.has(t.name)) problems.push(`initializer ${t.name} redefines a value`);
    defined.add(t.name);
    if (t.data_type !== 1) problems.push(`initializer ${t.name} data_type ${t.data_type ?? 0}`);
    const dims = t.dims ?? [];
    const n = dims.reduce((a, b) => a * b, 1);
    const bytes = t.raw_data?.length ?? 0;
    if (bytes !== 4 * n) problems.push(`initializer ${t.name}: ${bytes} bytes for dims [${dims.join(',')}]`);
  }
  const names = new Set<string>();
  for (const n of g.node) {
    if (!n.name || names.has(n.name)) problems.push(`node name '${n.name}' missing or duplicated`);
    names.add(n.name);
    if (!OPS.has(n.op_type)) problems.push(`unexpected op ${n.op_type}`);
    for (const i of n.input)
      if (!defined.has(i)) problems.push(`node ${n.name} reads '${i}' before it is defined (not topologically sorted)`);
    for (const o of n.output) {
      if (defined.has(o)) problems.push(`value '${o}' assigned twice (not SSA)`);
      defined.add(o);
    }
  }
  for (const o of g.output) {
    if (!defined.has(o.name)) problems.push(`output ${o.name} is never produced`);
    if (o.type?.tensor_type?.elem_type !== 1) problems.push(`output ${o.name} not float32-typed`);
  }
  return { problems, model };
}
