// PyTorch checkpoints (torch.save, zip format since torch 1.6): `<prefix>/data.pkl` is a pickle whose tensors point,
// through persistent ids, at raw storages stored as `<prefix>/data/<key>`. We unpickle with a strict allow-list and
// rebuild each tensor from its storage (offset, size, stride) as a contiguous HostTensor, never running Python code.
import { closeSync, openSync, readSync } from 'node:fs';
import { UserError } from '../util/errors.js';
import { type Dtype, type HostTensor, type TensorData, ITEM_SIZE, decodeElements, numelOf } from './dtype.js';
import { PyCallable, unpickle } from './pickle.js';
import { ZipArchive } from './zip.js';

/** The legacy storage classes name the element type of each storage. */
const STORAGE_DTYPES: Record<string, Dtype> = {
  'torch.FloatStorage': 'F32',
  'torch.HalfStorage': 'F16',
  'torch.BFloat16Storage': 'BF16',
  'torch.DoubleStorage': 'F64',
  'torch.LongStorage': 'I64',
  'torch.IntStorage': 'I32',
  'torch.ByteStorage': 'U8',
  'torch.BoolStorage': 'BOOL',
};

/** Largest tensor we will materialise from a strided view (elements); stops a corrupted size from exhausting memory. */
const MAX_VIEW_NUMEL = 2 ** 30;

interface Storage {
  dtype: Dtype;
  numel: number;
  data: TensorData;
}

function isIndex(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function isIndexTuple(v: unknown): v is number[] {
  return Array.isArray(v) && v.every(isIndex);
}

export function isHostTensor(v: unknown): v is HostTensor {
  return typeof v === 'object' && v !== null && 'dtype' in v && 'shape' in v && 'data' in v && ArrayBuffer.isView((v as HostTensor).data);
}

/** Copies a strided view of `src` into a new contiguous array of the same type. */
function gather(src: TensorData, offset: number, size: number[], stride: number[], numel: number): TensorData {
  const contiguous = (() => {
    let expect = 1;
    for (let d = size.length - 1; d >= 0; d--) {
      if (size[d] !== 1 && stride[d] !== expect) return false;
      expect *= size[d];
    }
    return true;
  })();
  if (contiguous) return src.slice(offset, offset + numel);
  const out = new (src.constructor as { new (n: number): TensorData })(numel) as { [i: number]: number | bigint };
  const from = src as unknown as { [i: number]: number | bigint };
  const idx = new Array<number>(size.length).fill(0);
  let at = offset;
  for (let i = 0; i < numel; i++) {
    out[i] = from[at];
    // odometer increment over the dims, last fastest
    for (let d = size.length - 1; d >= 0; d--) {
      idx[d]++;
      at += stride[d];
      if (idx[d] < size[d]) break;
      at -= stride[d] * size[d];
      idx[d] = 0;
    }
  }
  return out as unknown as TensorData;
}

/** Reads and unpickles a checkpoint (path or bytes); tensors come back as HostTensor, containers as Map/Array. */
export function readTorchCheckpoint(src: string | Uint8Array, label = typeof src === 'string' ? src : '<buffer>'): unknown {
  if (typeof src !== 'string' && src.byteLength > 0 && src[0] === 0x80) throw legacy(label);
  let zip: ZipArchive;
  try {
    zip = ZipArchive.open(src, label);
  } catch (e) {
    // A raw pickle (torch.save with _use_new_zipfile_serialization=False) starts with PROTO, not a zip header.
    if (typeof src === 'string' && e instanceof UserError && startsWithPickle(src)) throw legacy(label);
    throw e;
  }
  try {
    return loadFromZip(zip, label);
  } finally {
    zip.close();
  }
}

function legacy(label: string): UserError {
  return new UserError(`${label} uses the legacy (pre-1.6) torch.save format, which is not supported; re-save it with a recent PyTorch.`);
}

function startsWithPickle(path: string): boolean {
  try {
    const fd = openSync(path, 'r');
    try {
      const b = Buffer.alloc(1);
      return readSync(fd, b, 0, 1, 0) === 1 && b[0] === 0x80;
    } finally {
      closeSync(fd);
    }
  } catch {
    return false;
  }
}

function loadFromZip(zip: ZipArchive, label: string): unknown {
  // The folder name inside the archive is the file's stem at save time, so find it rather than guess.
  const pkl = [...zip.entries.keys()].filter((n) => /^[^/]*\/?data\.pkl$/.test(n)).sort((a, b) => a.length - b.length)[0];
  if (pkl === undefined) throw new UserError(`${label} is not a PyTorch checkpoint: it has no data.pkl entry.`);
  const prefix = pkl.slice(0, pkl.length - 'data.pkl'.length);
  let bigEndian = false;
  if (zip.has(`${prefix}byteorder`)) {
    const order = new TextDecoder().decode(zip.read(`${prefix}byteorder`)).trim();
    if (order !== 'little' && order !== 'big') throw new UserError(`${label} declares an unknown byte order "${order}".`);
    bigEndian = order === 'big';
  }

  const storages = new Map<string, Storage>();
  const persistentLoad = (pid: unknown): Storage => {
    if (!Array.isArray(pid) || pid.length < 5 || pid[0] !== 'storage') throw new UserError(`${label} has a persistent id that is not a storage.`);
    const [, type, key, , numel] = pid as unknown[];
    const dtype = type instanceof PyCallable ? STORAGE_DTYPES[type.qualname] : undefined;
    if (!dtype) throw new UserError(`${label} has a storage of an unsupported type.`);
    if (typeof key !== 'string' || !isIndex(numel)) throw new UserError(`${label} has a malformed storage reference.`);
    const cacheKey = `${key}:${dtype}`;
    const cached = storages.get(cacheKey);
    if (cached) return cached;
    const entry = `${prefix}data/${key}`;
    if (!zip.has(entry)) throw new UserError(`${label} is missing the storage entry "${entry}".`);
    const bytes = zip.read(entry);
    const item = ITEM_SIZE[dtype];
    if (bytes.byteLength < numel * item) {
      throw new UserError(`${label} storage "${key}" holds ${bytes.byteLength} bytes but ${numel} ${dtype} elements need ${numel * item}.`);
    }
    let raw = bytes.subarray(0, numel * item);
    if (bigEndian && item > 1) {
      raw = raw.slice();
      for (let i = 0; i < raw.length; i += item) raw.subarray(i, i + item).reverse();
    }
    const s: Storage = { dtype, numel, data: decodeElements(dtype, raw, numel) };
    storages.set(cacheKey, s);
    return s;
  };

  const rebuildTensor = (args: readonly unknown[]): HostTensor => {
    const [storage, offset, size, stride] = args;
    if (typeof storage !== 'object' || storage === null || !('numel' in storage) || !('data' in storage)) {
      throw new UserError(`${label} has a tensor without a storage.`);
    }
    const st = storage as Storage;
    if (!isIndex(offset) || !isIndexTuple(size) || !isIndexTuple(stride) || size.length !== stride.length) {
      throw new UserError(`${label} has a tensor with a malformed size or stride.`);
    }
    const numel = numelOf(size);
    if (numel > 0) {
      let last = offset;
      for (let d = 0; d < size.length; d++) last += (size[d] - 1) * stride[d];
      if (last >= st.numel) throw new UserError(`${label} has a tensor that reads past the end of its storage.`);
      if (numel > MAX_VIEW_NUMEL) throw new UserError(`${label} has a tensor of ${numel} elements, more than this loader supports.`);
    }
    return { dtype: st.dtype, shape: [...size], data: gather(st.data, offset, size, stride, numel) };
  };
  const asTensor = (v: unknown): HostTensor => {
    if (!isHostTensor(v)) throw new UserError(`${label} has a parameter that is not a tensor.`);
    return v;
  };

  const globals: Record<string, (args: readonly unknown[]) => unknown> = {
    'collections.OrderedDict': (args) => {
      const m = new Map<unknown, unknown>();
      const init = args[0];
      if (Array.isArray(init)) for (const kv of init) if (Array.isArray(kv) && kv.length === 2) m.set(kv[0], kv[1]);
      return m;
    },
    'torch._utils._rebuild_tensor': rebuildTensor,
    'torch._utils._rebuild_tensor_v2': rebuildTensor,
    'torch._utils._rebuild_parameter': (args) => asTensor(args[0]),
    'torch._utils._rebuild_parameter_with_state': (args) => asTensor(args[0]),
    // Tensor subclasses pickle as (rebuild function, subclass, args, state); only Parameter is accepted as subclass.
    'torch._tensor._rebuild_from_type_v2': (args) => {
      const [fn, , fnArgs] = args;
      if (!(fn instanceof PyCallable) || !Array.isArray(fnArgs)) throw new UserError(`${label} has a malformed tensor subclass record.`);
      return fn.fn(fnArgs);
    },
    'torch.nn.parameter.Parameter': (args) => asTensor(args[0]),
  };
  for (const name of Object.keys(STORAGE_DTYPES)) {
    globals[name] = () => {
      throw new UserError(`${label} constructs a ${name} directly, which a checkpoint never needs.`);
    };
  }
  return unpickle(zip.read(pkl), { label, globals, persistentLoad });
}

/**
 * The model weights of a checkpoint, by name: the state dict is looked for under "model", then "state_dict",
 * then at the top level (HF pytorch_model.bin). Non-tensor entries are skipped.
 */
export function torchStateDict(src: string | Uint8Array, label = typeof src === 'string' ? src : '<buffer>'): Map<string, HostTensor> {
  const obj = readTorchCheckpoint(src, label);
  const tensorsOf = (m: unknown): Map<string, HostTensor> | null => {
    if (!(m instanceof Map)) return null;
    const out = new Map<string, HostTensor>();
    for (const [k, v] of m) if (typeof k === 'string' && isHostTensor(v)) out.set(k, v);
    return out.size ? out : null;
  };
  if (obj instanceof Map) {
    for (const key of ['model', 'state_dict']) {
      const found = tensorsOf(obj.get(key));
      if (found) return found;
    }
  }
  const top = tensorsOf(obj);
  if (top) return top;
  throw new UserError(`${label} holds no state dict: no tensors under "model", "state_dict" or at the top level.`);
}
