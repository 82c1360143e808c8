/**
 * Reuses GPU buffers by size class. A released buffer may still be referenced by dispatches recorded but not yet
 * submitted, so it waits in `pending` until the next submit; after that, queue ordering makes reuse safe.
 */
export class BufferPool {
  private free = new Map<number, GPUBuffer[]>();
  private pending: GPUBuffer[] = [];
  private sizes = new WeakMap<GPUBuffer, number>();
  /** Bytes currently handed out (allocated and not released). */
  liveBytes = 0;
  /** The most bytes ever handed out at once: the figure benchmarks report as peak memory. */
  peakBytes = 0;
  /** Bytes held by the pool in total (live + free + pending). */
  totalBytes = 0;

  constructor(
    private device: GPUDevice,
    private usage: GPUBufferUsageFlags,
  ) {}

  /** Rounds up so that nearby sizes share buffers: 256 B granularity below 64 KiB, then quarter powers of two. */
  static sizeClass(bytes: number): number {
    const b = Math.max(16, bytes);
    if (b <= 65536) return Math.ceil(b / 256) * 256;
    const p = 2 ** Math.floor(Math.log2(b));
    const step = p / 4;
    return Math.ceil(b / step) * step;
  }

  acquire(bytes: number): GPUBuffer {
    const size = BufferPool.sizeClass(bytes);
    const list = this.free.get(size);
    let buf = list?.pop();
    if (!buf) {
      buf = this.device.createBuffer({ size, usage: this.usage });
      this.sizes.set(buf, size);
      this.totalBytes += size;
    }
    this.liveBytes += size;
    if (this.liveBytes > this.peakBytes) this.peakBytes = this.liveBytes;
    return buf;
  }

  release(buf: GPUBuffer): void {
    this.liveBytes -= this.sizes.get(buf) ?? 0;
    this.pending.push(buf);
  }

  /** Called after a submit: buffers released before it may be handed out again. */
  recycle(): void {
    for (const buf of this.pending) {
      const size = this.sizes.get(buf)!;
      let list = this.free.get(size);
      if (!list) this.free.set(size, (list = []));
      list.push(buf);
    }
    this.pending.length = 0;
  }

  resetPeak(): void {
    this.peakBytes = this.liveBytes;
  }

  /** Frees every idle buffer (between phases that use very different sizes). */
  trim(): void {
    for (const list of this.free.values()) for (const b of list) {
      this.totalBytes -= this.sizes.get(b) ?? 0;
      b.destroy();
    }
    this.free.clear();
  }

  destroy(): void {
    this.trim();
    for (const b of this.pending) b.destroy();
    this.pending.length = 0;
  }
}
