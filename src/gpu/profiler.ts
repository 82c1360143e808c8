/**
 * Per-kernel GPU time from timestamp queries: in profiling mode every dispatch gets a compute pass of its own whose
 * beginning and end are timestamped, so the sum per kernel is device time, not host time. Slower than normal
 * batching (one pass per dispatch), so only for `groupvit bench` breakdowns and the training-step profile.
 */
export class Profiler {
  private querySet: GPUQuerySet;
  private resolve: GPUBuffer;
  private labels: string[] = [];
  private pending: { staging: GPUBuffer; labels: string[] }[] = [];
  /** Nanoseconds per label (kernel file:entry) accumulated so far. */
  readonly totals = new Map<string, { ns: number; count: number }>();
  readonly capacity = 2048;

  constructor(private device: GPUDevice) {
    this.querySet = device.createQuerySet({ type: 'timestamp', count: this.capacity * 2 });
    this.resolve = device.createBuffer({ size: this.capacity * 16, usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC });
  }

  get full(): boolean {
    return this.labels.length >= this.capacity;
  }

  /** Timestamp writes for the next dispatch's own pass. */
  next(label: string): GPUComputePassTimestampWrites {
    const i = this.labels.length;
    this.labels.push(label);
    return { querySet: this.querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 };
  }

  /** Before the encoder is finished: resolve this batch's queries into a buffer the host can map later. */
  encodeResolve(encoder: GPUCommandEncoder): void {
    const n = this.labels.length;
    if (!n) return;
    encoder.resolveQuerySet(this.querySet, 0, 2 * n, this.resolve, 0);
    const staging = this.device.createBuffer({ size: n * 16, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
    encoder.copyBufferToBuffer(this.resolve, 0, staging, 0, n * 16);
    this.pending.push({ staging, labels: this.labels });
    this.labels = [];
  }

  /** Reads every resolved batch (after the work was submitted) and adds it to the totals. */
  async collect(wait: <T>(p: Promise<T>) => Promise<T>): Promise<void> {
    for (const { staging, labels } of this.pending.splice(0)) {
      await wait(staging.mapAsync(GPUMapMode.READ));
      const t = new BigUint64Array(staging.getMappedRange());
      labels.forEach((label, i) => {
        const ns = Number(t[2 * i + 1] - t[2 * i]);
        const e = this.totals.get(label) ?? { ns: 0, count: 0 };
        e.ns += ns > 0 && ns < 1e12 ? ns : 0;
        e.count++;
        this.totals.set(label, e);
      });
      staging.unmap();
      staging.destroy();
    }
  }

  reset(): void {
    this.totals.clear();
  }

  destroy(): void {
    this.querySet.destroy();
    this.resolve.destroy();
  }
}
