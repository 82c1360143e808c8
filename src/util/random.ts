// Seeded randomness for data: the generated world, prompt sampling and augmentation must give the same bytes for the
// same seed on every machine and Node version, so nothing here touches Math.random.

/** A 32-bit bijective mixer (the murmur3 finaliser): distinct inputs always give distinct outputs. */
export function mix32(x: number): number {
  x = x >>> 0;
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/**
 * A seed for item `index` of stream `stream` (a small integer naming e.g. the split) under the user's `seed`.
 * For a fixed seed the map (stream, index) -> result is injective (index < 2^28, stream < 16), because it is a
 * bijection of a packed integer: two different items never share a generator, e.g. no eval scene repeats a train one.
 */
export function streamSeed(seed: number, stream: number, index: number): number {
  if (!(index >= 0 && index < 2 ** 28 && Number.isInteger(index))) throw new RangeError(`index ${index} out of range`);
  if (!(stream >= 0 && stream < 16 && Number.isInteger(stream))) throw new RangeError(`stream ${stream} out of range`);
  const packed = (index * 16 + stream) >>> 0;
  return mix32(packed ^ mix32(seed ^ 0x5bd1e995));
}

/** mulberry32: tiny, fast, passes the usual statistical batteries well enough for picture generation. */
export class Random {
  private a: number;

  constructor(seed: number) {
    this.a = seed >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.a = (this.a + 0x6d2b79f5) >>> 0;
    let t = this.a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Uniform integer in [lo, hi] (both ends included). */
  intIn(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new RangeError('pick from an empty list');
    return items[this.int(items.length)];
  }

  /** Standard normal (Box–Muller; no cached spare, so the state is a single number). */
  normal(): number {
    const u = Math.max(this.next(), 1e-12);
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** A shuffled copy (Fisher–Yates). */
  shuffle<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [out[i], out[j]] = [out[j], out[i]];
    }
    return out;
  }

  /** `k` distinct positions' items, in sampled order (like numpy's choice(..., replace=False)). */
  sample<T>(items: readonly T[], k: number): T[] {
    return this.shuffle(items).slice(0, Math.min(k, items.length));
  }

  /** The whole state, for checkpoints: `new Random(0).setState(r.state())` continues exactly where r was. */
  state(): number {
    return this.a;
  }

  setState(s: number): this {
    this.a = s >>> 0;
    return this;
  }
}
