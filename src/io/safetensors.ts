// safetensors: an 8-byte little-endian header length N, N bytes of JSON {name: {dtype, shape, data_offsets}}, then the
// raw little-endian tensor bytes. Offsets are relative to the end of the header. Every field is checked before use,
// because a file that lies about its sizes must fail with one clear sentence, not a RangeError deep in a kernel.
import { readFileSync } from 'node:fs';
import { UserError } from '../util/errors.js';
import { writeFileAtomic } from './atomic-write.js';
import { type Dtype, type HostTensor, ITEM_SIZE, decodeElements, encodeElements, isDtype, numelOf } from './dtype.js';

export { toFloat32 } from './dtype.js';
export type { Dtype, HostTensor, TensorData } from './dtype.js';

/** Headers beyond this are refused: real ones are a few hundred KiB, and JSON.parse of gigabytes would just stall. */
const MAX_HEADER_BYTES = 100 * 1024 * 1024;

export interface SafetensorsFile {
  tensors: Map<string, HostTensor>;
  metadata: Record<string, string>;
}

function isDim(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/** Reads a whole file (or an in-memory copy of one) with its `__metadata__`; `name` labels errors for buffers. */
export function readSafetensorsFile(src: string | Uint8Array, name = typeof src === 'string' ? src : '<buffer>'): SafetensorsFile {
  const bad = (why: string): UserError => new UserError(`${name} is not a valid safetensors file: ${why}.`);
  let buf: Uint8Array;
  try {
    buf = typeof src === 'string' ? readFileSync(src) : src;
  } catch (e) {
    throw new UserError(`Cannot read ${name}: ${(e as Error).message}.`);
  }
  if (buf.byteLength < 8) throw bad('it is shorter than the 8-byte header length');
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const headerLen = dv.getBigUint64(0, true);
  if (headerLen > BigInt(buf.byteLength - 8)) throw bad(`the header length ${headerLen} runs past the end of the file`);
  if (headerLen > BigInt(MAX_HEADER_BYTES)) throw bad(`the header length ${headerLen} is implausibly large`);
  const n = Number(headerLen);
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(8, 8 + n)));
  } catch {
    throw bad('the header is not valid UTF-8 JSON');
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw bad('the header is not a JSON object');

  const dataStart = 8 + n;
  const dataLen = buf.byteLength - dataStart;
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, HostTensor>();
  const spans: Array<[number, number, string]> = [];
  for (const [key, entry] of Object.entries(header as Record<string, unknown>)) {
    if (key === '__metadata__') {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw bad('__metadata__ is not an object');
      for (const [k, v] of Object.entries(entry)) {
        if (typeof v !== 'string') throw bad(`__metadata__ value "${k}" is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    if (typeof entry !== 'object' || entry === null) throw bad(`the entry for "${key}" is not an object`);
    const { dtype, shape, data_offsets: offs } = entry as Record<string, unknown>;
    if (!isDtype(dtype)) throw bad(`tensor "${key}" has unknown dtype ${JSON.stringify(dtype)}`);
    if (!Array.isArray(shape) || !shape.every(isDim)) throw bad(`tensor "${key}" has an invalid shape`);
    if (!Array.isArray(offs) || offs.length !== 2 || !isDim(offs[0]) || !isDim(offs[1]) || offs[0] > offs[1]) {
      throw bad(`tensor "${key}" has invalid data_offsets`);
    }
    const [begin, end] = offs as [number, number];
    if (end > dataLen) throw bad(`tensor "${key}" ends at byte ${end} but only ${dataLen} data bytes follow the header`);
    const numel = numelOf(shape);
    if (numel * ITEM_SIZE[dtype] !== end - begin) {
      throw bad(`tensor "${key}" holds ${end - begin} bytes but its ${dtype} shape [${shape.join(',')}] needs ${numel * ITEM_SIZE[dtype]}`);
    }
    spans.push([begin, end, key]);
    const data = decodeElements(dtype, buf.subarray(dataStart + begin, dataStart + end), numel);
    tensors.set(key, { dtype, shape: [...shape], data });
  }
  // Two tensors sharing bytes means the offsets were corrupted (the format forbids aliasing).
  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  for (let i = 1; i < spans.length; i++) {
    if (spans[i][0] < spans[i - 1][1]) throw bad(`tensors "${spans[i - 1][2]}" and "${spans[i][2]}" overlap`);
  }
  return { tensors, metadata };
}

/** Tensors of a safetensors file (path or bytes), by name, in header order. */
export function readSafetensors(src: string | Uint8Array, name?: string): Map<string, HostTensor> {
  return readSafetensorsFile(src, name).tensors;
}

/** What the writer accepts: any array-like of the right length; I64 may be bigint or integral numbers. */
export interface TensorToWrite {
  dtype: Dtype;
  shape: readonly number[];
  data: ArrayLike<number> | ArrayLike<bigint>;
}

/** The complete file image; exposed for tests and for callers that want bytes instead of a file. */
export function encodeSafetensors(
  tensors: Record<string, TensorToWrite> | Map<string, TensorToWrite>,
  metadata?: Record<string, string>,
): Uint8Array {
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  // Widest elements first keeps every tensor aligned to its item size (the data section starts 8-aligned).
  entries.sort((a, b) => ITEM_SIZE[b[1].dtype] - ITEM_SIZE[a[1].dtype]);
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length) header.__metadata__ = metadata;
  const blobs: Uint8Array[] = [];
  let offset = 0;
  for (const [key, t] of entries) {
    if (key === '__metadata__') throw new UserError('A tensor cannot be named __metadata__ in a safetensors file.');
    if (!isDtype(t.dtype)) throw new UserError(`Tensor "${key}" has unknown dtype ${String(t.dtype)}.`);
    if (t.shape.some((d) => !isDim(d))) throw new UserError(`Tensor "${key}" has an invalid shape [${t.shape.join(',')}].`);
    const numel = numelOf(t.shape);
    if (t.data.length !== numel) throw new UserError(`Tensor "${key}" has ${t.data.length} values but shape [${t.shape.join(',')}] needs ${numel}.`);
    const bytes = encodeElements(t.dtype, t.data, numel);
    header[key] = { dtype: t.dtype, shape: [...t.shape], data_offsets: [offset, offset + bytes.byteLength] };
    blobs.push(bytes);
    offset += bytes.byteLength;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf-8');
  const pad = (8 - (json.byteLength % 8)) % 8;
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]); // spaces: still valid JSON, keeps data 8-aligned
  const out = Buffer.alloc(8 + json.byteLength + offset);
  out.writeBigUInt64LE(BigInt(json.byteLength), 0);
  json.copy(out, 8);
  let p = 8 + json.byteLength;
  for (const b of blobs) {
    out.set(b, p);
    p += b.byteLength;
  }
  return out;
}

/** Writes a safetensors file atomically: a crash leaves either the old file or the complete new one. */
export function writeSafetensors(
  path: string,
  tensors: Record<string, TensorToWrite> | Map<string, TensorToWrite>,
  metadata?: Record<string, string>,
): void {
  writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}
