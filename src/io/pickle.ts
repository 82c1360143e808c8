// A pickle virtual machine for the binary protocols (2–5) that executes nothing. Python's pickle can call any
// importable function, which is how malicious checkpoints run code; here a GLOBAL only resolves if the caller's
// allow-list names it, and "calling" it runs the caller's own JS stand-in. Everything else is plain data:
//   dict/OrderedDict → Map, list → Array, tuple → frozen Array, str → string, bytes → Uint8Array,
//   int → number (bigint beyond 2^53), float → number, None → null, bool → boolean.
// Every read is bounds-checked and each opcode consumes at least one byte, so no input can loop forever.
import { UserError } from '../util/errors.js';

/** What a GLOBAL resolves to: the allow-listed stand-in for a Python callable, by its qualified name. */
export class PyCallable {
  constructor(
    readonly qualname: string,
    readonly fn: (args: readonly unknown[]) => unknown,
  ) {}
}

export interface UnpickleOptions {
  /** Names the data in error messages (e.g. "model.pth"). */
  label: string;
  /** Allowed globals by "module.name"; any other GLOBAL is refused. */
  globals: Record<string, (args: readonly unknown[]) => unknown>;
  /** Resolves BINPERSID ids (torch uses them for tensor storages); refused when absent. */
  persistentLoad?: (pid: unknown) => unknown;
}

const MARK = Symbol('mark');
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

export function unpickle(data: Uint8Array, opts: UnpickleOptions): unknown {
  const bad = (why: string): UserError => new UserError(`${opts.label} cannot be unpickled: ${why}.`);
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const utf8 = new TextDecoder('utf-8');
  let pos = 0;
  let stack: unknown[] = [];
  const metastack: unknown[][] = [];
  const memo = new Map<number, unknown>();

  const need = (n: number): number => {
    if (n < 0 || pos + n > data.byteLength) throw bad(`it ends in the middle of an instruction at byte ${pos}`);
    const at = pos;
    pos += n;
    return at;
  };
  const u8 = (): number => data[need(1)];
  const u16 = (): number => dv.getUint16(need(2), true);
  const u32 = (): number => dv.getUint32(need(4), true);
  const u64 = (): number => {
    const v = dv.getBigUint64(need(8), true);
    if (v > MAX_SAFE) throw bad('a length is out of range');
    return Number(v);
  };
  const bytes = (n: number): Uint8Array => data.subarray(need(n), pos);
  const line = (): string => {
    const end = data.indexOf(0x0a, pos);
    if (end < 0) throw bad('a GLOBAL name is not terminated');
    const s = utf8.decode(data.subarray(pos, end));
    pos = end + 1;
    return s;
  };
  const pop = (): unknown => {
    if (stack.length === 0) throw bad(`the stack is empty at byte ${pos - 1}`);
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0) throw bad(`the stack is empty at byte ${pos - 1}`);
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const items = stack;
    const prev = metastack.pop();
    if (!prev) throw bad(`there is no MARK for the instruction at byte ${pos - 1}`);
    stack = prev;
    return items;
  };
  const tuple = (items: unknown[]): readonly unknown[] => Object.freeze(items);
  const resolve = (module: string, name: string): PyCallable => {
    const qualname = `${module}.${name}`;
    const fn = Object.prototype.hasOwnProperty.call(opts.globals, qualname) ? opts.globals[qualname] : undefined;
    if (!fn) {
      throw new UserError(`${opts.label} refers to the Python object ${qualname}, which is not on the allow-list of types a checkpoint may contain.`);
    }
    return new PyCallable(qualname, fn);
  };
  const call = (f: unknown, args: unknown): unknown => {
    if (!(f instanceof PyCallable)) throw bad('it calls something that is not an allowed global');
    if (!Array.isArray(args)) throw bad(`the arguments to ${f.qualname} are not a tuple`);
    try {
      return f.fn(args);
    } catch (e) {
      if (e instanceof UserError) throw e;
      throw bad(`${f.qualname} got unusable arguments (${(e as Error).message})`);
    }
  };
  const asMap = (m: unknown): Map<unknown, unknown> => {
    if (!(m instanceof Map)) throw bad('it sets an item on something that is not a dict');
    return m;
  };
  const asList = (l: unknown): unknown[] => {
    if (!Array.isArray(l) || Object.isFrozen(l)) throw bad('it appends to something that is not a list');
    return l;
  };
  const setItems = (m: Map<unknown, unknown>, items: unknown[]): void => {
    if (items.length % 2) throw bad('SETITEMS has an odd number of items');
    for (let i = 0; i < items.length; i += 2) m.set(items[i], items[i + 1]);
  };
  const signedLE = (b: Uint8Array): number | bigint => {
    // Python's LONG1/LONG4: little-endian two's complement of any width
    let v = 0n;
    for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
    if (b.length && b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
    return v >= -MAX_SAFE && v <= MAX_SAFE ? Number(v) : v;
  };

  for (;;) {
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        if (u8() > 5) throw bad('it uses a pickle protocol newer than 5');
        break;
      case 0x95: // FRAME: only a read-ahead hint
        u64();
        break;
      case 0x2e: // STOP
        return pop();
      case 0x28: // MARK
        metastack.push(stack);
        stack = [];
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push(tuple([]));
        break;
      case 0x64: { // DICT
        const m = new Map();
        setItems(m, popMark());
        stack.push(m);
        break;
      }
      // popMark() replaces `stack`, so its result is taken before touching `stack` again
      case 0x6c: { // LIST
        const items = popMark();
        stack.push(items);
        break;
      }
      case 0x74: { // TUPLE
        const items = tuple(popMark());
        stack.push(items);
        break;
      }
      case 0x85: // TUPLE1
        stack.push(tuple([pop()]));
        break;
      case 0x86: { // TUPLE2
        const b = pop();
        stack.push(tuple([pop(), b]));
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop();
        const b = pop();
        stack.push(tuple([pop(), b, c]));
        break;
      }
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4a: // BININT
        stack.push(dv.getInt32(need(4), true));
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x8a: // LONG1
        stack.push(signedLE(bytes(u8())));
        break;
      case 0x8b: { // LONG4
        const n = dv.getInt32(need(4), true);
        if (n < 0) throw bad('LONG4 has a negative length');
        stack.push(signedLE(bytes(n)));
        break;
      }
      case 0x47: // BINFLOAT (big-endian, unlike everything else)
        stack.push(dv.getFloat64(need(8), false));
        break;
      case 0x58: // BINUNICODE
        stack.push(utf8.decode(bytes(u32())));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(utf8.decode(bytes(u8())));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(utf8.decode(bytes(u64())));
        break;
      case 0x42: // BINBYTES
        stack.push(bytes(u32()).slice());
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(bytes(u8()).slice());
        break;
      case 0x8e: // BINBYTES8
        stack.push(bytes(u64()).slice());
        break;
      case 0x73: { // SETITEM
        const v = pop();
        const k = pop();
        asMap(top()).set(k, v);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        setItems(asMap(top()), items);
        break;
      }
      case 0x61: { // APPEND
        const v = pop();
        asList(top()).push(v);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        const l = asList(top());
        for (const v of items) l.push(v);
        break;
      }
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
      case 0x6a: { // LONG_BINGET
        const i = op === 0x68 ? u8() : u32();
        if (!memo.has(i)) throw bad(`it refers to memo slot ${i}, which was never stored`);
        stack.push(memo.get(i));
        break;
      }
      case 0x30: // POP
        if (stack.length) stack.pop();
        else popMark(); // CPython: POP on an empty stack discards a mark
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x63: { // GLOBAL "module\nname\n"
        const module = line();
        stack.push(resolve(module, line()));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') throw bad('STACK_GLOBAL needs two strings');
        stack.push(resolve(module, name));
        break;
      }
      case 0x52: { // REDUCE: callable(*args)
        const args = pop();
        stack.push(call(pop(), args));
        break;
      }
      case 0x81: { // NEWOBJ: cls.__new__(cls, *args) — the stand-in plays the constructor
        const args = pop();
        stack.push(call(pop(), args));
        break;
      }
      case 0x92: { // NEWOBJ_EX: keyword arguments are not used by any allowed type
        const kwargs = pop();
        const args = pop();
        if (!(kwargs instanceof Map) || kwargs.size) throw bad('NEWOBJ_EX with keyword arguments is not supported');
        stack.push(call(pop(), args));
        break;
      }
      case 0x62: // BUILD: attribute state (e.g. a state dict's _metadata) carries no tensor data; dropped
        pop();
        top();
        break;
      case 0x51: { // BINPERSID
        const pid = pop();
        if (!opts.persistentLoad) throw bad('it refers to external data but none is available');
        try {
          stack.push(opts.persistentLoad(pid));
        } catch (e) {
          if (e instanceof UserError) throw e;
          throw bad(`a persistent id could not be resolved (${(e as Error).message})`);
        }
        break;
      }
      default:
        throw bad(`it contains the unsupported opcode 0x${op.toString(16).padStart(2, '0')} at byte ${pos - 1}`);
    }
  }
}
