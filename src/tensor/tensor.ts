import { gpu } from '../gpu/runtime.js';
import { record } from './tape.js';

export type DType = 'f32' | 'u32' | 'i32';

/** A GPU buffer shared by a tensor and its reshaped views; the buffer goes back to the pool when the last one is released. */
class Storage {
  refs = 1;
  constructor(
    readonly buffer: GPUBuffer,
    readonly bytes: number,
  ) {}
}

// Scopes collect the tensors made inside `tidy(fn)` so that intermediates are released when the scope ends.
const scopes: Set<Tensor>[] = [];

export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function shapeStr(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/** A contiguous row-major GPU tensor. */
export class Tensor {
  readonly shape: readonly number[];
  readonly size: number;
  readonly dtype: DType;
  requiresGrad = false;
  /** Set on leaves (parameters) after backward(); intermediates get theirs only inside the tape walk. */
  grad: Tensor | null = null;
  /** True when an op recorded on the tape produced this tensor (so it is not a leaf). */
  hasProducer = false;
  name = '';
  private storage: Storage | null;

  private constructor(storage: Storage, shape: readonly number[], dtype: DType) {
    this.storage = storage;
    this.shape = shape.slice();
    this.size = shapeSize(shape);
    this.dtype = dtype;
    scopes[scopes.length - 1]?.add(this);
  }

  get buffer(): GPUBuffer {
    if (!this.storage) throw new Error(`tensor ${this.name || shapeStr(this.shape)} used after release`);
    return this.storage.buffer;
  }

  get released(): boolean {
    return this.storage === null;
  }

  /** True when no view shares this tensor's buffer: in-place updates are then safe. */
  get exclusive(): boolean {
    return this.storage !== null && this.storage.refs === 1;
  }

  get rank(): number {
    return this.shape.length;
  }

  dim(i: number): number {
    return this.shape[i < 0 ? this.shape.length + i : i];
  }

  /** Uninitialised tensor (contents are whatever the pooled buffer held). */
  static empty(shape: readonly number[], dtype: DType = 'f32'): Tensor {
    const bytes = Math.max(4, shapeSize(shape) * 4);
    return new Tensor(new Storage(gpu().createBuffer(bytes), bytes), shape, dtype);
  }

  static fromArray(data: ArrayLike<number>, shape: readonly number[], dtype: DType = 'f32'): Tensor {
    const n = shapeSize(shape);
    if (data.length !== n) throw new Error(`fromArray: ${data.length} values for shape ${shapeStr(shape)}`);
    const t = Tensor.empty(shape, dtype);
    const arr = dtype === 'f32' ? Float32Array.from(data) : dtype === 'u32' ? Uint32Array.from(data) : Int32Array.from(data);
    if (n > 0) gpu().write(t.buffer, arr);
    return t;
  }

  static zeros(shape: readonly number[]): Tensor {
    return Tensor.full(shape, 0);
  }

  static full(shape: readonly number[], value: number): Tensor {
    const t = Tensor.empty(shape);
    if (t.size > 0) gpu().write(t.buffer, new Float32Array(t.size).fill(value));
    return t;
  }

  /** A view with another shape over the same buffer (no copy); gradients flow through it (reshaped back). */
  view(shape: readonly number[]): Tensor {
    const resolved = resolveShape(shape, this.size);
    const s = this.storage;
    if (!s) throw new Error('view of a released tensor');
    s.refs++;
    const t = new Tensor(s, resolved, this.dtype);
    const from = this.shape;
    record([this], t, (g) => [g.view(from)]);
    return t;
  }

  /**
   * Overwrites the contents from the host. queue.writeBuffer runs ahead of dispatches recorded but not yet submitted,
   * so those are submitted first: otherwise a pending fill (say, optimizer moments zeroed at creation) would land
   * after, and undo, the upload.
   */
  upload(data: ArrayLike<number>): void {
    if (data.length !== this.size) throw new Error(`upload: ${data.length} values into ${shapeStr(this.shape)}`);
    const arr = this.dtype === 'f32' ? Float32Array.from(data) : this.dtype === 'u32' ? Uint32Array.from(data) : Int32Array.from(data);
    if (this.size > 0) {
      gpu().flush();
      gpu().write(this.buffer, arr);
    }
  }

  /** Reads the values back to the host (a sync point). */
  async toArray(): Promise<Float32Array> {
    const raw = await gpu().read(this.buffer, this.size * 4);
    if (this.dtype === 'f32') return new Float32Array(raw);
    const src = this.dtype === 'u32' ? new Uint32Array(raw) : new Int32Array(raw);
    return Float32Array.from(src);
  }

  async item(): Promise<number> {
    return (await this.toArray())[0];
  }

  /** Returns the buffer to the pool once no view uses it. Safe to call twice. */
  release(): void {
    const s = this.storage;
    if (!s) return;
    this.storage = null;
    if (--s.refs === 0) gpu().releaseBuffer(s.buffer);
    for (let i = scopes.length - 1; i >= 0; i--) if (scopes[i].delete(this)) break;
  }

  /** Removes the tensor from every enclosing tidy scope: it outlives them (parameters, optimizer state, results). */
  keep(): this {
    for (const s of scopes) s.delete(this);
    return this;
  }
}

function resolveShape(shape: readonly number[], size: number): number[] {
  const out = shape.slice();
  const neg = out.indexOf(-1);
  if (neg >= 0) {
    const rest = shapeSize(out.filter((_, i) => i !== neg));
    out[neg] = rest === 0 ? 0 : size / rest;
  }
  if (shapeSize(out) !== size) throw new Error(`cannot view ${size} values as ${shapeStr(shape)}`);
  return out;
}

type Kept = Tensor | Tensor[] | Record<string, unknown> | number | void | undefined | null;

function collect(x: unknown, into: Set<Tensor>): void {
  if (x instanceof Tensor) into.add(x);
  else if (Array.isArray(x)) for (const y of x) collect(y, into);
  else if (x && typeof x === 'object' && !(x instanceof Promise)) for (const y of Object.values(x)) collect(y, into);
}

/**
 * Runs fn and releases every tensor it created except those reachable from its result (and kept ones).
 * The surviving tensors move to the enclosing scope.
 */
export function tidy<T extends Kept | unknown>(fn: () => T): T {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } finally {
    scopes.pop();
  }
  const survivors = new Set<Tensor>();
  collect(result, survivors);
  for (const t of scope) if (!survivors.has(t)) t.release();
  const parent = scopes[scopes.length - 1];
  if (parent) for (const t of survivors) if (!t.released && scope.has(t)) parent.add(t);
  return result;
}

/** The async form of tidy: the scope stays open across awaits, so only one may run at a time. */
export async function tidyAsync<T>(fn: () => Promise<T>): Promise<T> {
  const scope = new Set<Tensor>();
  scopes.push(scope);
  let result: T;
  try {
    result = await fn();
  } finally {
    const i = scopes.lastIndexOf(scope);
    if (i >= 0) scopes.splice(i, 1);
  }
  const survivors = new Set<Tensor>();
  collect(result, survivors);
  for (const t of scope) if (!survivors.has(t)) t.release();
  const parent = scopes[scopes.length - 1];
  if (parent) for (const t of survivors) if (!t.released && scope.has(t)) parent.add(t);
  return result;
}
