/**
 * The pickler: writes value trees as torch.save does (protocol 2), with only the opcodes
 * and globals that `torch.load(f, weights_only=True)` accepts. See pickle.ts for the value mapping.
 */
import { numel, type DType, type Tensor, type TensorData } from './tensor.js';
import { OP } from './pickle-opcodes.js';
import {
  isPlainDict,
  isTensor,
  isTuple,
  looksLikeTensor,
  PickleError,
  pyAttributes,
  PyFloat,
  STORAGE_DTYPES,
} from './pickle-values.js';

// ---------------------------------------------------------------------------
// Writer

/** A tensor storage the pickle references by key; the caller stores it as `<prefix>/data/<key>`. */
export interface PickledStorage {
  key: string;
  bytes: Uint8Array;
}

const STORAGE_CLASS = Object.fromEntries(Object.entries(STORAGE_DTYPES).map(([cls, dt]) => [dt, cls])) as Record<
  DType,
  string
>;

class ByteWriter {
  private buf = new Uint8Array(1 << 16);
  length = 0;
  private view = new DataView(this.buf.buffer);

  private ensure(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.length + n) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.length));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.length++] = b;
  }
  u16(v: number): void {
    this.ensure(2);
    this.view.setUint16(this.length, v, true);
    this.length += 2;
  }
  u32(v: number): void {
    this.ensure(4);
    this.view.setUint32(this.length, v, true);
    this.length += 4;
  }
  i32(v: number): void {
    this.ensure(4);
    this.view.setInt32(this.length, v, true);
    this.length += 4;
  }
  f64be(v: number): void {
    this.ensure(8);
    this.view.setFloat64(this.length, v, false);
    this.length += 8;
  }
  raw(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }
  result(): Uint8Array {
    return this.buf.slice(0, this.length);
  }
}

const BATCH = 1000; // items per APPENDS/SETITEMS, as CPython's pickler batches
const MAX_WRITE_DEPTH = 1000;

/**
 * Pickles a value tree as torch.save does (protocol 2), using only opcodes and globals
 * that `torch.load(..., weights_only=True)` accepts. Tensors become
 * `torch._utils._rebuild_tensor_v2` calls over persistent storage ids `'0'`, `'1'`, ...
 * (tensors sharing one `data` array share a storage). Value mapping: Map -> OrderedDict
 * (or dict when tagged by {@link plainDict}), plain object -> dict (undefined members
 * skipped), array -> list (tuple when tagged), number -> int when a safe integer else
 * float ({@link PyFloat} forces float), bigint -> int, string, boolean, null/undefined -> None.
 */
export function pickleTorch(value: unknown): { pickle: Uint8Array; storages: PickledStorage[] } {
  const w = new ByteWriter();
  const memo = new Map<unknown, number>();
  const storageKeys = new Map<TensorData, string>();
  const storages: PickledStorage[] = [];

  const put = (obj: unknown): void => {
    const i = memo.size;
    memo.set(obj, i);
    if (i < 256) {
      w.byte(OP.BINPUT);
      w.byte(i);
    } else {
      w.byte(OP.LONG_BINPUT);
      w.u32(i);
    }
  };
  const get = (obj: unknown): boolean => {
    const i = memo.get(obj);
    if (i === undefined) return false;
    if (i < 256) {
      w.byte(OP.BINGET);
      w.byte(i);
    } else {
      w.byte(OP.LONG_BINGET);
      w.u32(i);
    }
    return true;
  };
  const enc = new TextEncoder();
  const str = (s: string): void => {
    // Strings are memoized by value (keys like 'weight' repeat thousands of times).
    const k = `s:${s}`;
    if (get(k)) return;
    const b = enc.encode(s);
    w.byte(OP.BINUNICODE);
    w.u32(b.length);
    w.raw(b);
    put(k);
  };
  const global = (module: string, name: string): void => {
    const k = `g:${module}.${name}`;
    if (get(k)) return;
    w.byte(OP.GLOBAL);
    w.raw(enc.encode(`${module}\n${name}\n`));
    put(k);
  };
  const int = (v: number | bigint): void => {
    const b = BigInt(v);
    if (b >= 0n && b < 256n) {
      w.byte(OP.BININT1);
      w.byte(Number(b));
      return;
    }
    if (b >= 0n && b < 65536n) {
      w.byte(OP.BININT2);
      w.u16(Number(b));
      return;
    }
    if (b >= -(2n ** 31n) && b < 2n ** 31n) {
      w.byte(OP.BININT);
      w.i32(Number(b));
      return;
    }
    // LONG1: minimal little-endian two's complement.
    const bytes: number[] = [];
    let x = b;
    while (true) {
      const byte = Number(x & 0xffn);
      bytes.push(byte);
      x >>= 8n;
      if ((x === 0n && !(byte & 0x80)) || (x === -1n && byte & 0x80)) break;
    }
    if (bytes.length > 255) throw new PickleError(`pickle: integer ${b} is too large to write`);
    w.byte(OP.LONG1);
    w.byte(bytes.length);
    w.raw(Uint8Array.from(bytes));
  };
  const tupleOf = (items: unknown[], depth: number): void => {
    if (items.length === 0) {
      w.byte(OP.EMPTY_TUPLE);
      return;
    }
    if (items.length > 3) w.byte(OP.MARK);
    for (const it of items) save(it, depth + 1);
    w.byte(items.length > 3 ? OP.TUPLE : [0, OP.TUPLE1, OP.TUPLE2, OP.TUPLE3][items.length]!);
  };
  const setItems = (entries: Iterable<[unknown, unknown]>, depth: number): void => {
    let batch: [unknown, unknown][] = [];
    const flush = (): void => {
      if (batch.length === 1) {
        save(batch[0]![0], depth);
        save(batch[0]![1], depth);
        w.byte(OP.SETITEM);
      } else if (batch.length > 1) {
        w.byte(OP.MARK);
        for (const [k, v] of batch) {
          save(k, depth);
          save(v, depth);
        }
        w.byte(OP.SETITEMS);
      }
      batch = [];
    };
    for (const e of entries) {
      batch.push(e);
      if (batch.length === BATCH) flush();
    }
    flush();
  };
  const tensor = (t: Tensor, depth: number): void => {
    if (get(t)) return;
    const n = numel(t.shape);
    if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0) || t.data.length !== n) {
      throw new PickleError(`pickle: tensor of shape [${t.shape.join(', ')}] has ${t.data.length} elements`);
    }
    if (!isTensor(t))
      throw new PickleError(
        `pickle: a ${(t as Tensor).dtype} tensor's data is a ${(t as Tensor).data.constructor.name}`,
      );
    let key = storageKeys.get(t.data);
    if (key === undefined) {
      key = String(storages.length);
      storageKeys.set(t.data, key);
      storages.push({ key, bytes: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) });
    }
    global('torch._utils', '_rebuild_tensor_v2');
    w.byte(OP.MARK); // the argument tuple
    w.byte(OP.MARK); // the persistent id
    str('storage');
    global('torch', STORAGE_CLASS[t.dtype]);
    str(key);
    str('cpu');
    int(t.data.length);
    w.byte(OP.TUPLE);
    w.byte(OP.BINPERSID);
    int(0); // storage offset
    const stride = t.shape.map((_, i) => t.shape.slice(i + 1).reduce((a, b) => a * b, 1));
    tupleOf(t.shape, depth);
    tupleOf(stride, depth);
    w.byte(OP.NEWFALSE); // requires_grad False
    global('collections', 'OrderedDict');
    w.byte(OP.EMPTY_TUPLE);
    w.byte(OP.REDUCE); // OrderedDict() for backward_hooks
    w.byte(OP.TUPLE);
    w.byte(OP.REDUCE);
    put(t);
  };
  const save = (v: unknown, depth: number): void => {
    if (depth > MAX_WRITE_DEPTH)
      throw new PickleError(`pickle: value nested deeper than ${MAX_WRITE_DEPTH} levels (a cycle through a tuple?)`);
    if (v === null || v === undefined) {
      w.byte(OP.NONE);
      return;
    }
    switch (typeof v) {
      case 'boolean':
        w.byte(v ? OP.NEWTRUE : OP.NEWFALSE);
        return;
      case 'bigint':
        int(v);
        return;
      case 'number':
        if (Number.isSafeInteger(v) && !Object.is(v, -0)) int(v);
        else {
          w.byte(OP.BINFLOAT);
          w.f64be(v);
        }
        return;
      case 'string':
        str(v);
        return;
      case 'object':
        break;
      default:
        throw new PickleError(`pickle: cannot write a ${typeof v}`);
    }
    if (v instanceof PyFloat) {
      w.byte(OP.BINFLOAT);
      w.f64be(v.value);
      return;
    }
    if (looksLikeTensor(v)) {
      tensor(v, depth);
      return;
    } // tensor() refuses inconsistent ones
    if (get(v)) return;
    if (Array.isArray(v)) {
      if (isTuple(v)) {
        tupleOf(v, depth);
        put(v);
        return;
      }
      w.byte(OP.EMPTY_LIST);
      put(v);
      for (let i = 0; i < v.length; i += BATCH) {
        const chunk = v.slice(i, i + BATCH);
        if (chunk.length === 1) {
          save(chunk[0], depth + 1);
          w.byte(OP.APPEND);
          continue;
        }
        w.byte(OP.MARK);
        for (const it of chunk) save(it, depth + 1);
        w.byte(OP.APPENDS);
      }
      return;
    }
    if (v instanceof Map) {
      if (isPlainDict(v)) {
        w.byte(OP.EMPTY_DICT);
        put(v);
        setItems(v, depth + 1);
        return;
      }
      global('collections', 'OrderedDict');
      w.byte(OP.EMPTY_TUPLE);
      w.byte(OP.REDUCE);
      put(v);
      setItems(v, depth + 1);
      const attrs = pyAttributes(v);
      if (attrs?.size) {
        w.byte(OP.EMPTY_DICT);
        setItems(attrs, depth + 1); // state dict for OrderedDict.__dict__
        w.byte(OP.BUILD);
      }
      return;
    }
    if (ArrayBuffer.isView(v))
      throw new PickleError('pickle: a bare typed array cannot be written; wrap it in a Tensor');
    const proto = Object.getPrototypeOf(v) as unknown;
    if (proto !== Object.prototype && proto !== null) {
      throw new PickleError(
        `pickle: cannot write a ${v.constructor?.name ?? 'object'} (only Map, plain objects, arrays, tensors and ` +
          'scalars)',
      );
    }
    w.byte(OP.EMPTY_DICT);
    put(v);
    setItems(
      Object.entries(v).filter(([, x]) => x !== undefined),
      depth + 1,
    );
  };

  w.byte(OP.PROTO);
  w.byte(2); // PROTO 2, as torch.save writes
  save(value, 0);
  w.byte(OP.STOP);
  return { pickle: w.result(), storages };
}
