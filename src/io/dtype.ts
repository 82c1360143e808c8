// Element types shared by the safetensors and PyTorch readers, and the conversions between their bytes and JS arrays.
// Both formats store little-endian data; this module assumes a little-endian host (every platform Node ships on).

/** The safetensors dtype names; PyTorch storages are mapped onto the same names. */
export type Dtype = 'F32' | 'F16' | 'BF16' | 'F64' | 'I64' | 'I32' | 'U8' | 'BOOL';

/**
 * Floats of every width come back as Float32Array (the model computes in f32, so converting once at load is
 * simplest); `dtype` still says what the file held. Integers keep their width: I64 stays exact as BigInt64Array.
 */
export type TensorData = Float32Array | BigInt64Array | Int32Array | Uint8Array;

export interface HostTensor {
  dtype: Dtype;
  shape: number[];
  data: TensorData;
}

export const ITEM_SIZE: Record<Dtype, number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I64: 8, I32: 4, U8: 1, BOOL: 1 };

export function isDtype(s: unknown): s is Dtype {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(ITEM_SIZE, s);
}

export function isFloatDtype(d: Dtype): boolean {
  return d === 'F32' || d === 'F16' || d === 'BF16' || d === 'F64';
}

/** Product of the dims; the caller has already checked they are non-negative safe integers. */
export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** A fresh, 8-byte-aligned copy of the bytes, so typed views on it never throw on alignment. */
function alignedCopy(bytes: Uint8Array): ArrayBuffer {
  const buf = new ArrayBuffer(bytes.byteLength);
  new Uint8Array(buf).set(bytes);
  return buf;
}

/** IEEE half → float, exact (every f16 is representable in f32). */
export function f16ToF32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** float → IEEE half with round-to-nearest-even, as torch's `.half()` does. */
export function f32ToF16(v: number): number {
  f32Scratch[0] = v;
  const x = u32Scratch[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal: rounds to zero
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let r = mant >>> shift;
    if (rest > half || (rest === half && r & 1)) r++;
    return sign | r; // a carry into the exponent field is the correct smallest normal
  }
  const rest = mant & 0x1fff;
  let r = (e << 10) | (mant >>> 13);
  if (rest > 0x1000 || (rest === 0x1000 && r & 1)) r++; // a carry may round up to Inf, which is correct
  return sign | r;
}

/** float → bfloat16 bits with round-to-nearest-even (NaN kept quiet). */
export function f32ToBf16(v: number): number {
  f32Scratch[0] = v;
  const x = u32Scratch[0];
  if ((x & 0x7fffffff) > 0x7f800000) return ((x >>> 16) | 0x40) & 0xffff;
  return ((x + 0x7fff + ((x >>> 16) & 1)) >>> 16) & 0xffff;
}

/** Decodes `count` little-endian elements of `dtype` from raw bytes (floats widened/narrowed to f32). */
export function decodeElements(dtype: Dtype, bytes: Uint8Array, count: number): TensorData {
  const raw = alignedCopy(bytes.subarray(0, count * ITEM_SIZE[dtype]));
  switch (dtype) {
    case 'F32':
      return new Float32Array(raw);
    case 'F64':
      return Float32Array.from(new Float64Array(raw));
    case 'F16': {
      const h = new Uint16Array(raw);
      const out = new Float32Array(count);
      for (let i = 0; i < count; i++) out[i] = f16ToF32(h[i]);
      return out;
    }
    case 'BF16': {
      // bf16 is the top half of an f32, so widening is a shift
      const h = new Uint16Array(raw);
      const bits = new Uint32Array(count);
      for (let i = 0; i < count; i++) bits[i] = h[i] << 16;
      return new Float32Array(bits.buffer);
    }
    case 'I64':
      return new BigInt64Array(raw);
    case 'I32':
      return new Int32Array(raw);
    case 'U8':
    case 'BOOL':
      return new Uint8Array(raw);
  }
}

/** Encodes JS values as `dtype` bytes (the inverse of decodeElements). */
export function encodeElements(dtype: Dtype, data: ArrayLike<number> | ArrayLike<bigint>, count: number): Uint8Array {
  const out = new Uint8Array(count * ITEM_SIZE[dtype]);
  const num = (i: number): number => Number(data[i]);
  switch (dtype) {
    case 'F32': {
      const v = new Float32Array(out.buffer);
      for (let i = 0; i < count; i++) v[i] = num(i);
      break;
    }
    case 'F64': {
      const v = new Float64Array(out.buffer);
      for (let i = 0; i < count; i++) v[i] = num(i);
      break;
    }
    case 'F16': {
      const v = new Uint16Array(out.buffer);
      for (let i = 0; i < count; i++) v[i] = f32ToF16(num(i));
      break;
    }
    case 'BF16': {
      const v = new Uint16Array(out.buffer);
      for (let i = 0; i < count; i++) v[i] = f32ToBf16(num(i));
      break;
    }
    case 'I64': {
      const v = new BigInt64Array(out.buffer);
      for (let i = 0; i < count; i++) {
        const x = data[i];
        v[i] = typeof x === 'bigint' ? x : BigInt(Math.trunc(x));
      }
      break;
    }
    case 'I32': {
      const v = new Int32Array(out.buffer);
      for (let i = 0; i < count; i++) v[i] = num(i);
      break;
    }
    case 'U8':
    case 'BOOL':
      for (let i = 0; i < count; i++) out[i] = num(i);
      break;
  }
  return out;
}

/** Any tensor's values as Float32Array (a copy for integer types; the same array for floats). */
export function toFloat32(t: { data: TensorData }): Float32Array {
  if (t.data instanceof Float32Array) return t.data;
  const d = t.data;
  const out = new Float32Array(d.length);
  for (let i = 0; i < d.length; i++) out[i] = Number(d[i]);
  return out;
}
