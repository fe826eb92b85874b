/**
 * The structural rules of onnx.checker that apply to our graphs, re-implemented for
 * tests (no Python onnx here): opset/IR, unique node names, SSA values, topological
 * order, typed initializers with consistent byte sizes, typed inputs/outputs.
 */
import { decodeModel, type ModelProtoObject } from '../../src/onnx/proto.js';

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
  const problems: string[] = [];
  if (model.ir_version !== 7) problems.push(`ir_version ${model.ir_version}`);
  if (
    model.opset_import.length !== 1 ||
    model.opset_import[0]!.version !== 13 ||
    (model.opset_import[0]!.domain ?? '') !== ''
  )
    problems.push('opset is not ai.onnx 13');
  const g = model.graph;
  const defined = new Set<string>();
  for (const i of g.input) {
    if (i.type?.tensor_type?.elem_type !== 1) problems.push(`input ${i.name} not float32-typed`);
    defined.add(i.name);
  }
  for (const t of g.initializer) {
    if (defined.has(t.name)) problems.push(`initializer ${t.name} redefines a value`);
    defined.add(t.name);
    if (t.data_type !== 1) problems.push(`initializer ${t.name} data_type ${t.data_type}`);
    const n = (t.dims ?? []).reduce((a, b) => a * b, 1);
    if ((t.raw_data?.length ?? 0) !== 4 * n)
      problems.push(`initializer ${t.name}: ${t.raw_data?.length} bytes for dims [${t.dims}]`);
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
