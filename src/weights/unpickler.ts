/**
 * The restricted unpickler (protocols 2-5) for PyTorch checkpoints; see pickle.ts for the
 * safety model and the value mapping.
 */
import { DTYPE_SIZE, numel, type DType, type Tensor, type TensorData } from './tensor.js';
import { OP, OP_NAMES } from './pickle-opcodes.js';
import {
  isNamespace,
  isPlainDict,
  isTensor,
  isRebuiltTensor,
  isTuple,
  markNamespace,
  markRebuilt,
  markTuple,
  MAX_DIMS,
  PickleError,
  plainDict,
  pyAttributes,
  setPyAttributes,
  STORAGE_DTYPES,
  TORCH_DTYPES,
  TorchDtype,
  tuple,
} from './pickle-values.js';

// ---------------------------------------------------------------------------
// Allow-listed globals

type GlobalKind =
  | 'rebuild_tensor_v2'
  | 'rebuild_tensor'
  | 'rebuild_parameter'
  | 'rebuild_parameter_with_state'
  | 'ordered_dict'
  | 'namespace'
  | 'size'
  | 'set'
  | 'frozenset'
  | 'storage';

/** An allow-listed Python global: an inert tag interpreted by REDUCE/NEWOBJ/persistent ids. */
class PyGlobal {
  constructor(
    readonly fullName: string,
    readonly kind: GlobalKind,
    readonly dtype?: DType | 'untyped',
  ) {}
}

const ALLOWED = new Map<string, PyGlobal | TorchDtype>();
{
  const add = (name: string, kind: GlobalKind, dtype?: DType | 'untyped'): void => {
    ALLOWED.set(name, new PyGlobal(name, kind, dtype));
  };
  add('torch._utils._rebuild_tensor_v2', 'rebuild_tensor_v2');
  add('torch._utils._rebuild_tensor', 'rebuild_tensor');
  add('torch._utils._rebuild_parameter', 'rebuild_parameter');
  add('torch._utils._rebuild_parameter_with_state', 'rebuild_parameter_with_state');
  add('collections.OrderedDict', 'ordered_dict');
  add('argparse.Namespace', 'namespace');
  add('torch.Size', 'size');
  add('builtins.set', 'set');
  add('builtins.frozenset', 'frozenset');
  for (const [cls, dt] of Object.entries(STORAGE_DTYPES)) add(`torch.${cls}`, 'storage', dt);
  add('torch.UntypedStorage', 'storage', 'untyped');
  add('torch.storage.UntypedStorage', 'storage', 'untyped');
  for (const [n, dt] of Object.entries(TORCH_DTYPES)) ALLOWED.set(`torch.${n}`, new TorchDtype(`torch.${n}`, dt));
}

function resolveGlobal(module: string, name: string): PyGlobal | TorchDtype {
  const full = `${module}.${name}`;
  const g = ALLOWED.get(full);
  if (!g) {
    throw new PickleError(
      `pickle: global '${full}' is not allowed (repghost loads only tensors and plain data; re-save the file ` +
        `with torch.save(model.state_dict()))`,
    );
  }
  return g;
}

// ---------------------------------------------------------------------------
// Storages and tensors

/** A torch storage referenced by a persistent id; its bytes come from the caller. */
class StorageRef {
  private typed?: TensorData;
  constructor(
    readonly key: string,
    readonly dtype: DType,
    readonly numel: number,
    readonly bytes: Uint8Array,
  ) {}

  /** True once {@link asTyped} has made its copy. */
  get materialized(): boolean {
    return this.typed !== undefined;
  }

  /** The whole storage as an aligned typed array (copied once), for strided reads. */
  asTyped(): TensorData {
    this.typed ??= typedFrom(this.dtype, this.bytes.slice(), this.numel);
    return this.typed;
  }
}

/** Loads the bytes of storage `key` (numel elements of dtype); must throw when absent. */
export type StorageLoader = (key: string, dtype: DType, numel: number, location: string) => Uint8Array;

function typedFrom(dtype: DType, bytes: Uint8Array, count: number): TensorData {
  // `bytes` must start at offset 0 of its own buffer (a fresh slice) for alignment.
  const b = bytes.buffer;
  switch (dtype) {
    case 'F64':
      return new Float64Array(b, bytes.byteOffset, count);
    case 'F32':
      return new Float32Array(b, bytes.byteOffset, count);
    case 'F16':
    case 'BF16':
      return new Uint16Array(b, bytes.byteOffset, count);
    case 'I64':
      return new BigInt64Array(b, bytes.byteOffset, count);
    case 'I32':
      return new Int32Array(b, bytes.byteOffset, count);
    case 'I16':
      return new Int16Array(b, bytes.byteOffset, count);
    case 'I8':
      return new Int8Array(b, bytes.byteOffset, count);
    case 'U8':
    case 'BOOL':
      return new Uint8Array(b, bytes.byteOffset, count);
  }
}

/**
 * A value for an error message: scalars as themselves (long strings cut), containers only
 * by type. Never String() a decoded container: memo references make DAGs whose tree form
 * is exponential in the input (40 nested [l, l] lists, 360 bytes, are 2^40 leaves).
 */
function preview(v: unknown): string {
  if (typeof v === 'string') return v.length > 60 ? `'${v.slice(0, 60)}...'` : `'${v}'`;
  if (typeof v === 'number' || typeof v === 'bigint' || typeof v === 'boolean') return String(v);
  return describe(v);
}

function intList(v: unknown, what: string): number[] {
  if (!Array.isArray(v) || v.length > MAX_DIMS)
    throw new PickleError(`pickle: tensor ${what} is not a tuple of at most ${MAX_DIMS} ints`);
  return v.map((d) => {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw new PickleError(`pickle: tensor ${what} holds ${describe(d)} ${preview(d)}, not a non-negative int`);
    }
    return d;
  });
}

// ---------------------------------------------------------------------------
// Reader

/** Options for {@link unpickle}. */
export interface UnpickleOptions {
  /** Resolves storage persistent ids; without it any persistent id is an error. */
  loadStorage?: StorageLoader;
  /** Maximum nesting of MARKs and of the resulting containers (default 256). */
  maxDepth?: number;
  /** Budget for bytes materialized into tensors (default 4 GiB). */
  maxTensorBytes?: number;
}

/** Short Python-ish type name of a decoded value, for error messages. */
function describe(v: unknown): string {
  if (v === null) return 'None';
  if (v === undefined) return 'nothing';
  if (typeof v === 'number' || typeof v === 'bigint') return 'int/float';
  if (typeof v === 'string') return 'str';
  if (typeof v === 'boolean') return 'bool';
  if (v instanceof PyGlobal) return `global '${v.fullName}'`;
  if (v instanceof TorchDtype) return v.name;
  if (v instanceof StorageRef) return 'storage';
  if (Array.isArray(v)) return isTuple(v) ? 'tuple' : 'list';
  if (v instanceof Map) return isPlainDict(v) ? 'dict' : 'OrderedDict';
  if (v instanceof Set) return 'set';
  if (v instanceof Uint8Array) return 'bytes';
  if (isTensor(v)) return 'tensor';
  if (isNamespace(v)) return 'argparse.Namespace';
  return typeof v;
}

function setAttr(obj: object, key: unknown, value: unknown): void {
  if (typeof key !== 'string') throw new PickleError(`pickle: attribute name is ${describe(key)}, not str`);
  // defineProperty, not assignment: a key named "__proto__" must stay a plain attribute.
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Runs a restricted pickle machine over `data`; see the module comment for the value mapping. */
export function unpickle(data: Uint8Array, opts: UnpickleOptions = {}): unknown {
  return new Unpickler(data, opts).load();
}

class Unpickler {
  private pos = 0;
  private stack: unknown[] = [];
  private readonly metastack: unknown[][] = [];
  private readonly memo = new Map<number, unknown>();
  private readonly storages = new Map<string, StorageRef>();
  private readonly view: DataView;
  private readonly maxDepth: number;
  private tensorBudget: number;
  /**
   * Items REDUCE/BUILD may iterate in total. Each opcode is linear, but memo GETs let a
   * few bytes re-apply one to the same big container again and again (quadratic: a 1 MB
   * file ran for minutes). A real pickle processes each item once, so a small multiple
   * of the input size is generous.
   */
  private workBudget: number;
  private op = 0;
  private opPos = 0;

  constructor(
    private readonly data: Uint8Array,
    private readonly opts: UnpickleOptions,
  ) {
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    this.maxDepth = opts.maxDepth ?? 256;
    this.tensorBudget = opts.maxTensorBytes ?? 4 * 2 ** 30;
    this.workBudget = 4 * data.length + 65_536;
  }

  private spend(items: number): void {
    this.workBudget -= items;
    if (this.workBudget < 0)
      this.fail(
        'the pickle asks for more work than its size allows (one memoized container rebuilt over and over): ' +
          'hostile or corrupt pickle',
      );
  }

  private fail(msg: string): never {
    throw new PickleError(`pickle: ${msg} (opcode 0x${this.op.toString(16).padStart(2, '0')} at offset ${this.opPos})`);
  }

  private need(n: number): number {
    if (n > this.data.length - this.pos) {
      this.fail(`needs ${n} more bytes but only ${this.data.length - this.pos} remain: truncated or corrupt pickle`);
    }
    const p = this.pos;
    this.pos += n;
    return p;
  }

  private u8(): number {
    return this.data[this.need(1)]!;
  }
  private u16(): number {
    return this.view.getUint16(this.need(2), true);
  }
  private u32(): number {
    return this.view.getUint32(this.need(4), true);
  }
  private i32(): number {
    return this.view.getInt32(this.need(4), true);
  }
  private u64(): number {
    const v = this.view.getBigUint64(this.need(8), true);
    // Anything larger than the input cannot be a valid length; avoid precision loss first.
    return v > BigInt(this.data.length) ? this.data.length + 1 : Number(v);
  }

  private bytes(n: number): Uint8Array {
    const p = this.need(n);
    return this.data.subarray(p, p + n);
  }

  private text(n: number): string {
    const b = this.bytes(n);
    try {
      return UTF8.decode(b);
    } catch {
      this.fail('string is not valid UTF-8');
    }
  }

  private line(): string {
    // GLOBAL operands are short dotted names; cap the search so a missing newline is cheap.
    const nl = this.data.subarray(this.pos, this.pos + 1025).indexOf(0x0a);
    if (nl < 0) this.fail('GLOBAL operand is not a newline-terminated name');
    const s = this.text(nl);
    this.pos++;
    return s;
  }

  private push(v: unknown): void {
    this.stack.push(v);
  }

  private pop(): unknown {
    if (this.stack.length === 0) this.fail('stack underflow: corrupt pickle');
    return this.stack.pop();
  }

  private top(): unknown {
    if (this.stack.length === 0) this.fail('stack underflow: corrupt pickle');
    return this.stack[this.stack.length - 1];
  }

  private popMark(): unknown[] {
    const items = this.stack;
    const prev = this.metastack.pop();
    if (!prev) this.fail('no MARK for this opcode: corrupt pickle');
    this.stack = prev;
    return items;
  }

  private put(index: number): void {
    // A real pickler numbers memo slots 0, 1, 2, ...; each PUT takes at least two bytes,
    // so an index beyond the input size is hostile. Checking keeps the memo small.
    if (index > this.data.length) this.fail(`memo index ${index} out of range for a ${this.data.length}-byte pickle`);
    this.memo.set(index, this.top());
  }

  private get(index: number): void {
    if (!this.memo.has(index)) this.fail(`memo index ${index} was never stored: corrupt pickle`);
    this.push(this.memo.get(index));
  }

  private int(v: bigint): number | bigint {
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }

  private long(n: number): number | bigint {
    if (n > 256) this.fail(`integer of ${n} bytes is too large`);
    const b = this.bytes(n);
    if (n === 0) return 0;
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
    if (b[n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
    return this.int(v);
  }

  load(): unknown {
    const d = this.data;
    while (true) {
      if (this.pos >= d.length) {
        throw new PickleError(`pickle: data ended at offset ${this.pos} without STOP: truncated pickle`);
      }
      this.opPos = this.pos;
      const op = (this.op = d[this.pos++]!);
      switch (op) {
        case OP.PROTO: {
          const v = this.u8();
          if (v > 5) this.fail(`unsupported pickle protocol ${v}`);
          break;
        }
        case OP.FRAME: {
          // an advisory length; check it, then read on
          const n = this.u64();
          if (n > d.length - this.pos) this.fail(`frame of ${n} bytes exceeds the remaining input: truncated pickle`);
          break;
        }
        case OP.STOP: {
          const result = this.pop();
          checkResult(result, this.maxDepth, 8 * this.data.length + 65_536);
          return result;
        }
        case OP.MARK:
          if (this.metastack.length >= this.maxDepth) this.fail(`MARKs nested deeper than ${this.maxDepth}`);
          this.metastack.push(this.stack);
          this.stack = [];
          break;
        case OP.POP:
          this.pop();
          break;
        case OP.POP_MARK:
          this.popMark();
          break;
        case OP.DUP:
          this.push(this.top());
          break;

        case OP.NONE:
          this.push(null);
          break;
        case OP.NEWTRUE:
          this.push(true);
          break;
        case OP.NEWFALSE:
          this.push(false);
          break;
        case OP.BININT:
          this.push(this.i32());
          break;
        case OP.BININT1:
          this.push(this.u8());
          break;
        case OP.BININT2:
          this.push(this.u16());
          break;
        case OP.LONG1:
          this.push(this.long(this.u8()));
          break;
        case OP.LONG4: {
          const n = this.i32();
          if (n < 0) this.fail('negative LONG4 length');
          this.push(this.long(n));
          break;
        }
        case OP.BINFLOAT:
          this.push(this.view.getFloat64(this.need(8), false));
          break; // big-endian

        case OP.BINUNICODE:
          this.push(this.text(this.u32()));
          break;
        case OP.SHORT_BINUNICODE:
          this.push(this.text(this.u8()));
          break;
        case OP.BINUNICODE8:
          this.push(this.text(this.u64()));
          break;
        case OP.SHORT_BINSTRING:
          this.push(this.text(this.u8()));
          break; // torch.load decodes it as UTF-8
        case OP.BINSTRING: {
          const n = this.i32();
          if (n < 0) this.fail('negative BINSTRING length');
          this.push(this.text(n));
          break;
        }
        case OP.SHORT_BINBYTES:
          this.push(this.bytes(this.u8()).slice());
          break;
        case OP.BINBYTES:
          this.push(this.bytes(this.u32()).slice());
          break;
        case OP.BINBYTES8:
        case OP.BYTEARRAY8:
          this.push(this.bytes(this.u64()).slice());
          break;

        case OP.EMPTY_DICT:
          this.push(plainDict(new Map()));
          break;
        case OP.EMPTY_LIST:
          this.push([]);
          break;
        case OP.EMPTY_TUPLE:
          this.push(tuple());
          break;
        case OP.EMPTY_SET:
          this.push(new Set());
          break;
        case OP.TUPLE:
          this.push(markTuple(this.popMark()));
          break;
        case OP.TUPLE1:
          this.push(tuple(this.pop()));
          break;
        case OP.TUPLE2: {
          const b = this.pop();
          const a = this.pop();
          this.push(tuple(a, b));
          break;
        }
        case OP.TUPLE3: {
          const c = this.pop();
          const b = this.pop();
          const a = this.pop();
          this.push(tuple(a, b, c));
          break;
        }
        case OP.LIST:
          this.push(this.popMark());
          break;
        case OP.DICT: {
          const items = this.popMark();
          const m = plainDict(new Map());
          this.setItems(m, items);
          this.push(m);
          break;
        }
        case OP.FROZENSET:
          this.push(new Set(this.popMark()));
          break;
        case OP.SETITEM: {
          const v = this.pop();
          const k = this.pop();
          this.setItems(this.top(), [k, v]);
          break;
        }
        case OP.SETITEMS: {
          const items = this.popMark();
          this.setItems(this.top(), items);
          break;
        }
        case OP.APPEND: {
          const v = this.pop();
          this.listOf(this.top()).push(v);
          break;
        }
        case OP.APPENDS: {
          const items = this.popMark();
          const list = this.listOf(this.top());
          for (const it of items) list.push(it);
          break;
        }
        case OP.ADDITEMS: {
          const items = this.popMark();
          const s = this.top();
          if (!(s instanceof Set)) this.fail(`ADDITEMS on ${describe(s)}, not a set`);
          for (const it of items) s.add(it);
          break;
        }

        case OP.BINPUT:
          this.put(this.u8());
          break;
        case OP.LONG_BINPUT:
          this.put(this.u32());
          break;
        case OP.MEMOIZE:
          this.put(this.memo.size);
          break;
        case OP.BINGET:
          this.get(this.u8());
          break;
        case OP.LONG_BINGET:
          this.get(this.u32());
          break;

        case OP.GLOBAL: {
          const module = this.line();
          const name = this.line();
          this.push(resolveGlobal(module, name));
          break;
        }
        case OP.STACK_GLOBAL: {
          const name = this.pop();
          const module = this.pop();
          if (typeof module !== 'string' || typeof name !== 'string')
            this.fail('STACK_GLOBAL operands are not strings');
          this.push(resolveGlobal(module, name));
          break;
        }
        case OP.REDUCE: {
          const args = this.pop();
          const f = this.pop();
          this.push(this.reduce(f, args));
          break;
        }
        case OP.NEWOBJ: {
          const args = this.pop();
          const cls = this.pop();
          this.push(this.newObj(cls, args));
          break;
        }
        case OP.NEWOBJ_EX: {
          const kwargs = this.pop();
          const args = this.pop();
          const cls = this.pop();
          if (!(kwargs instanceof Map) || kwargs.size > 0)
            this.fail(`NEWOBJ_EX with keyword arguments on ${describe(cls)} is not allowed`);
          this.push(this.newObj(cls, args));
          break;
        }
        case OP.BUILD: {
          const state = this.pop();
          this.build(this.top(), state);
          break;
        }
        case OP.BINPERSID:
          this.push(this.persistentLoad(this.pop()));
          break;

        case OP.INST:
        case OP.OBJ:
          this.fail(`opcode ${OP_NAMES.get(op)} is not allowed: it constructs arbitrary Python objects`);
          break; // not reached: fail() throws
        default:
          this.fail(
            `unsupported opcode ${OP_NAMES.get(op) ?? `'${String.fromCharCode(op)}'`} (repghost reads protocol ` +
              `2-5 pickles as torch.save writes them)`,
          );
      }
    }
  }

  private listOf(v: unknown): unknown[] {
    if (!Array.isArray(v) || isTuple(v)) this.fail(`APPEND on ${describe(v)}, not a list`);
    return v;
  }

  private setItems(target: unknown, items: unknown[]): void {
    if (!(target instanceof Map)) this.fail(`SETITEM on ${describe(target)}, not a dict`);
    if (items.length % 2) this.fail('SETITEMS with an odd number of items');
    for (let i = 0; i < items.length; i += 2) {
      const k = items[i];
      if (k instanceof Map || k instanceof Set || (Array.isArray(k) && !isTuple(k)))
        this.fail(`unhashable dict key (${describe(k)})`);
      target.set(k, items[i + 1]);
    }
  }

  private args(v: unknown, what: string): unknown[] {
    if (!isTuple(v)) this.fail(`${what} arguments are ${describe(v)}, not a tuple`);
    return v;
  }

  private reduce(f: unknown, argsV: unknown): unknown {
    if (!(f instanceof PyGlobal)) this.fail(`REDUCE on ${describe(f)} is not allowed`);
    const args = this.args(argsV, f.fullName);
    switch (f.kind) {
      case 'rebuild_tensor_v2':
        // (storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
        if (args.length < 6 || args.length > 7) this.fail(`${f.fullName} takes 6 or 7 arguments, got ${args.length}`);
        return this.rebuildTensor(args[0], args[1], args[2], args[3]);
      case 'rebuild_tensor':
        if (args.length !== 4) this.fail(`${f.fullName} takes 4 arguments, got ${args.length}`);
        return this.rebuildTensor(args[0], args[1], args[2], args[3]);
      case 'rebuild_parameter':
      case 'rebuild_parameter_with_state':
        // (data, requires_grad, backward_hooks[, state]): a Parameter is just its tensor here.
        if (!isRebuiltTensor(args[0])) this.fail(`${f.fullName} got ${describe(args[0])}, not a tensor`);
        return args[0];
      case 'ordered_dict': {
        const m = new Map<unknown, unknown>();
        if (args.length > 1) this.fail('OrderedDict takes at most one argument');
        if (args.length === 1) {
          const pairs = args[0];
          if (!Array.isArray(pairs)) this.fail(`OrderedDict of ${describe(pairs)} is not supported`);
          this.spend(pairs.length);
          for (const p of pairs) {
            if (!Array.isArray(p) || p.length !== 2) this.fail('OrderedDict items are not (key, value) pairs');
            this.setItems(m, p);
          }
        }
        return m;
      }
      case 'size': {
        if (args.length > 1) this.fail('torch.Size takes one argument');
        return markTuple(intList(args[0] ?? [], 'size'));
      }
      case 'set':
      case 'frozenset': {
        if (args.length > 1) this.fail(`${f.fullName} takes at most one argument`);
        const items = args[0] ?? [];
        if (!Array.isArray(items)) this.fail(`${f.fullName} of ${describe(items)} is not supported`);
        this.spend(items.length);
        return new Set(items);
      }
      case 'namespace':
        return this.newObj(f, argsV);
      default:
        this.fail(`REDUCE on global '${f.fullName}' is not allowed`);
    }
  }

  private newObj(cls: unknown, argsV: unknown): unknown {
    const ok = cls instanceof PyGlobal && (cls.kind === 'namespace' || cls.kind === 'ordered_dict');
    if (!ok) this.fail(`creating an object of ${describe(cls)} is not allowed`);
    const args = this.args(argsV, cls.fullName);
    if (args.length) this.fail(`${cls.fullName} with positional arguments is not supported`);
    if (cls.kind === 'ordered_dict') return new Map();
    const ns = Object.create(null) as Record<string, unknown>;
    return markNamespace(ns);
  }

  private build(inst: unknown, state: unknown): void {
    // pickle's BUILD state is a dict, or (dict, slotstate) for objects with __slots__.
    let dict: unknown = state;
    let slots: unknown = null;
    if (isTuple(state) && state.length === 2) [dict, slots] = state;
    const entries = (v: unknown): [unknown, unknown][] => {
      if (v === null) return [];
      if (!(v instanceof Map)) this.fail(`BUILD state is ${describe(v)}, not a dict`);
      this.spend(v.size);
      return [...v.entries()];
    };
    const all = [...entries(dict), ...entries(slots)];
    if (inst instanceof Map && !isPlainDict(inst)) {
      // OrderedDict.__dict__ update: torch keeps `_metadata` (module versions) there.
      let attrs = pyAttributes(inst);
      if (!attrs) setPyAttributes(inst, (attrs = new Map<string, unknown>()));
      for (const [k, v] of all) {
        if (typeof k !== 'string') this.fail(`attribute name is ${describe(k)}, not str`);
        attrs.set(k, v);
      }
      return;
    }
    if (isNamespace(inst)) {
      for (const [k, v] of all) setAttr(inst, k, v);
      return;
    }
    this.fail(`BUILD on ${describe(inst)} is not allowed`);
  }

  private persistentLoad(pid: unknown): unknown {
    // torch: ('storage', storage_type, key, location, numel)
    if (!isTuple(pid) || pid.length !== 5 || pid[0] !== 'storage') {
      this.fail(`persistent id ${describe(pid)} is not a torch storage reference`);
    }
    const [, type, key, location, count] = pid;
    let dtype: DType;
    if (type instanceof PyGlobal && type.kind === 'storage') dtype = type.dtype === 'untyped' ? 'U8' : type.dtype!;
    else if (type instanceof TorchDtype) dtype = type.dtype;
    else this.fail(`storage type ${describe(type)} is not a supported torch storage class`);
    if (typeof key !== 'string') this.fail(`storage key is ${describe(key)}, not str`);
    if (typeof count !== 'number' || !Number.isSafeInteger(count) || count < 0)
      this.fail(`storage ${key}: bad element count ${preview(count)}`);
    const known = this.storages.get(key);
    if (known) {
      if (known.dtype !== dtype || known.numel !== count)
        this.fail(`storage ${key} is referenced with two different types or sizes`);
      return known;
    }
    if (!this.opts.loadStorage) this.fail('the pickle references tensor storages but no storage loader was given');
    const bytes = this.opts.loadStorage(key, dtype, count, typeof location === 'string' ? location : 'cpu');
    if (bytes.length < count * DTYPE_SIZE[dtype]) {
      this.fail(
        `storage ${key} holds ${bytes.length} bytes, but ${count} ${dtype} elements need ` +
          `${count * DTYPE_SIZE[dtype]}: corrupt file`,
      );
    }
    const s = new StorageRef(key, dtype, count, bytes.subarray(0, count * DTYPE_SIZE[dtype]));
    this.storages.set(key, s);
    return s;
  }

  private rebuildTensor(storage: unknown, offsetV: unknown, sizeV: unknown, strideV: unknown): Tensor {
    const t = this.materialize(storage, offsetV, sizeV, strideV);
    // Checked once more where it is made: the byte length and the array type must be dtype x shape.
    if (!isTensor(t)) this.fail(`a rebuilt ${(t as Tensor).dtype} tensor does not hold the elements its shape needs`);
    return markRebuilt(t);
  }

  private materialize(storage: unknown, offsetV: unknown, sizeV: unknown, strideV: unknown): Tensor {
    if (!(storage instanceof StorageRef)) this.fail(`tensor storage is ${describe(storage)}, not a storage`);
    if (typeof offsetV !== 'number' || !Number.isSafeInteger(offsetV) || offsetV < 0)
      this.fail(`bad tensor storage offset ${preview(offsetV)}`);
    const offset = offsetV;
    const shape = intList(sizeV, 'size');
    const stride = intList(strideV, 'stride');
    if (stride.length !== shape.length)
      this.fail(`tensor size has ${shape.length} dims but stride has ${stride.length}`);
    const n = numel(shape);
    if (!Number.isSafeInteger(n)) this.fail(`tensor size [${shape.join(', ')}] is too large`);
    const es = DTYPE_SIZE[storage.dtype];
    if (n === 0) return { dtype: storage.dtype, shape, data: typedFrom(storage.dtype, new Uint8Array(0), 0) };
    let last = offset;
    for (let i = 0; i < shape.length; i++) last += (shape[i]! - 1) * stride[i]!;
    if (last >= storage.numel) {
      this.fail(
        `tensor [${shape.join(', ')}] at storage offset ${offset} with stride [${stride.join(', ')}] reaches ` +
          `element ${last}, beyond storage ${storage.key} of ${storage.numel} elements: corrupt file`,
      );
    }
    this.tensorBudget -= n * es;
    if (this.tensorBudget < 0)
      this.fail(
        'tensors materialize more bytes than the budget allows (a hostile file re-using one storage many times?)',
      );
    // Contiguous (dims of size 1 may carry any stride): one slice, no per-element loop.
    let contiguous = true;
    for (let i = shape.length - 1, expect = 1; i >= 0; i--) {
      if (shape[i] !== 1 && stride[i] !== expect) contiguous = false;
      expect *= shape[i]!;
    }
    if (contiguous) {
      const bytes = storage.bytes.slice(offset * es, (offset + n) * es);
      return { dtype: storage.dtype, shape, data: typedFrom(storage.dtype, bytes, n) };
    }
    if (!storage.materialized) {
      // asTyped copies the whole storage: budget it, or many zip entries aliasing one big
      // record, each read through a 2-element strided view, expand a small file without bound.
      this.tensorBudget -= storage.bytes.length;
      if (this.tensorBudget < 0)
        this.fail(
          'tensors materialize more bytes than the budget allows (a hostile file re-using one storage many times?)',
        );
    }
    return {
      dtype: storage.dtype,
      shape,
      data: gatherStrided(storage.asTyped(), storage.dtype, offset, shape, stride, n),
    };
  }
}

const UTF8 = new TextDecoder('utf-8', { fatal: true });

/** Copies a strided view into a contiguous array (rare: torch.save keeps views' layout). */
function gatherStrided(
  src: TensorData,
  dtype: DType,
  offset: number,
  shape: number[],
  stride: number[],
  n: number,
): TensorData {
  const out = typedFrom(dtype, new Uint8Array(n * DTYPE_SIZE[dtype]), n);
  const idx = new Array<number>(shape.length).fill(0);
  let p = offset;
  const dst = out as unknown as Record<number, number | bigint>;
  const s = src as unknown as Record<number, number | bigint>;
  for (let i = 0; i < n; i++) {
    dst[i] = s[p]!;
    // Odometer increment over the dims, last dim fastest.
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d]! < shape[d]!) {
        p += stride[d]!;
        break;
      }
      p -= (shape[d]! - 1) * stride[d]!;
      idx[d] = 0;
    }
  }
  return out;
}

/** True for the values the result walk descends into. */
function isContainer(v: unknown): v is object {
  if (typeof v !== 'object' || v === null) return false;
  return Array.isArray(v) || v instanceof Map || v instanceof Set || isNamespace(v);
}

/** Children of a container value, for the result walk (built only for a node not seen before). */
function children(v: object): unknown[] {
  if (Array.isArray(v)) return v;
  if (v instanceof Map) return [...v.keys(), ...v.values(), ...(pyAttributes(v)?.values() ?? [])];
  if (v instanceof Set) return [...v];
  return Object.values(v);
}

/**
 * Checks the unpickled result: nesting at most `maxDepth` (so recursive consumers cannot
 * overflow the JS stack), no reference cycles, and no internal tags left in it.
 * Iterative, and each container is visited once: a node seen before is answered from
 * its memoized height before its children are listed (listing them first made one 45k-key
 * dict referenced 45k times, 270 KB, quadratic). `maxEdges` bounds the total work anyway.
 */
function checkResult(root: unknown, maxDepth: number, maxEdges: number): void {
  const height = new Map<object, number>();
  const onPath = new Set<object>();
  const frames: { node: object; kids: unknown[]; i: number; h: number }[] = [];
  let edges = 0;
  const enter = (v: unknown): number | null => {
    if (v instanceof PyGlobal)
      throw new PickleError(
        `pickle: the data holds the Python object ${v.fullName}, which repghost does not represent`,
      );
    if (v instanceof StorageRef)
      throw new PickleError('pickle: the data holds a bare storage, which repghost does not represent');
    if (!isContainer(v)) return 0;
    const known = height.get(v);
    if (known !== undefined) return known;
    if (onPath.has(v)) throw new PickleError('pickle: the data contains a reference cycle');
    if (frames.length >= maxDepth) throw new PickleError(`pickle: data nested deeper than ${maxDepth} levels`);
    const kids = children(v);
    edges += kids.length;
    if (edges > maxEdges)
      throw new PickleError('pickle: the data holds more references than its size allows: hostile or corrupt pickle');
    onPath.add(v);
    frames.push({ node: v, kids, i: 0, h: 0 });
    return null;
  };
  enter(root);
  while (frames.length) {
    const f = frames[frames.length - 1]!;
    if (f.i < f.kids.length) {
      const h = enter(f.kids[f.i++]);
      if (h !== null) {
        f.h = Math.max(f.h, h);
        if (frames.length + h > maxDepth) throw new PickleError(`pickle: data nested deeper than ${maxDepth} levels`);
      }
      continue;
    }
    frames.pop();
    onPath.delete(f.node);
    height.set(f.node, f.h + 1);
    const parent = frames[frames.length - 1];
    if (parent) parent.h = Math.max(parent.h, f.h + 1);
  }
}
