/**
 * A restricted Python unpickler (protocols 2-5) for PyTorch checkpoints, and the
 * matching pickler that writes what `torch.load(f, weights_only=True)` accepts.
 * The reader is unpickler.ts, the writer pickler.ts, and what they share pickle-values.ts
 * (value tags, tensor checks, dtype tables) and pickle-opcodes.ts (the named opcode
 * table); this module is their public face.
 *
 * Safety model: nothing in a file can run code. GLOBAL/STACK_GLOBAL resolve only the
 * allow-listed names below (tensor rebuild functions, storage classes, dtypes,
 * OrderedDict, argparse.Namespace, torch.Size, set/frozenset) and map them to inert
 * tags that this module interprets itself; any other name is refused when it is
 * read. REDUCE/NEWOBJ/BUILD act only on those tags. Input is bounds-checked (lengths
 * against the remaining bytes, memo indices against the input size), MARK nesting
 * and the result's nesting depth are capped, reference cycles are refused and the
 * bytes materialized for tensors are budgeted, so a hostile pickle can neither
 * allocate without bound nor hang: every opcode consumes input and does work
 * linear in what earlier opcodes pushed, and the total work of REDUCE/BUILD over
 * (possibly memoized, re-used) containers is budgeted by the input size.
 *
 * Python values map to JS as follows:
 * - None -> null; bool -> boolean; float -> number; str -> string; bytes/bytearray -> Uint8Array
 * - int -> number when it is a safe integer (|v| <= 2^53 - 1), else bigint
 * - list -> array; tuple and torch.Size -> array tagged as a tuple ({@link isTuple})
 * - dict and collections.OrderedDict -> Map (insertion order kept); a plain dict is
 *   tagged ({@link isPlainDict}), OrderedDict attributes such as `_metadata` set by
 *   BUILD are kept aside ({@link pyAttributes})
 * - set/frozenset -> Set; argparse.Namespace -> plain object of its attributes
 * - torch tensors/parameters -> {@link Tensor} (contiguous copies, independent of the input)
 * - torch dtype objects (torch.float32, ...) -> {@link TorchDtype}
 */
export {
  isNamespace,
  isPlainDict,
  isRebuiltTensor,
  isTensor,
  isTuple,
  PickleError,
  plainDict,
  pyAttributes,
  PyFloat,
  setPyAttributes,
  TorchDtype,
  tuple,
} from './pickle-values.js';
export { unpickle, type StorageLoader, type UnpickleOptions } from './unpickler.js';
export { pickleTorch, type PickledStorage } from './pickler.js';
