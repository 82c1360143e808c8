import { Worker } from 'node:worker_threads';
import type { StepInput } from './step.js';
import type { SourceSpec } from './source-spec.js';

/**
 * Batches made `depth` steps ahead in a worker thread, so that decoding, augmentation and tokenising overlap the
 * GPU's work on the current step. batch(step) is still a pure function of the step, so resuming is unaffected.
 */
export class PrefetchingBatches {
  private worker: Worker;
  private waiting = new Map<number, { resolve: (b: StepInput) => void; reject: (e: Error) => void }>();
  private ready = new Map<number, Promise<StepInput>>();
  private failed: Error | null = null;
  private closing = false;
  /** Milliseconds the training loop spent waiting for data (the GPU idle because of the input pipeline). */
  waitedMs = 0;
  /** Records the worker skipped so far (unreadable images), and its one-line summary. */
  skippedTotal = 0;
  skippedSummary = '';

  constructor(spec: SourceSpec, private depth = 2) {
    this.worker = new Worker(new URL('./batch-worker.js', import.meta.url), { workerData: spec });
    this.worker.on('message', (m: { step: number; batch?: StepInput; error?: string; skippedTotal?: number; skippedSummary?: string }) => {
      if (m.skippedTotal !== undefined && m.skippedTotal > this.skippedTotal) {
        this.skippedTotal = m.skippedTotal;
        this.skippedSummary = m.skippedSummary ?? '';
      }
      const w = this.waiting.get(m.step);
      if (!w) return;
      this.waiting.delete(m.step);
      if (m.error) w.reject(new Error(m.error));
      else w.resolve(m.batch!);
    });
    const fail = (e: Error) => {
      if (this.closing) return;
      this.failed ??= e;
      for (const w of this.waiting.values()) w.reject(this.failed);
      this.waiting.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`the data worker stopped (exit code ${code})`)));
  }

  private request(step: number): Promise<StepInput> {
    let p = this.ready.get(step);
    if (!p && this.failed) return Promise.reject(this.failed);
    if (!p) {
      p = new Promise<StepInput>((resolve, reject) => this.waiting.set(step, { resolve, reject }));
      p.catch(() => {}); // a batch fetched ahead may never be asked for; whoever awaits it still sees the error
      this.ready.set(step, p);
      this.worker.postMessage(step);
    }
    return p;
  }

  /** The batch of `step`; asks the worker for the next `depth` steps before returning. */
  async batch(step: number, lastStep: number): Promise<StepInput> {
    const t = performance.now();
    const p = this.request(step);
    for (let s = step + 1; s <= Math.min(step + this.depth, lastStep - 1); s++) this.request(s);
    const b = await p;
    this.ready.delete(step);
    this.waitedMs += performance.now() - t;
    return b;
  }

  async close(): Promise<void> {
    this.closing = true;
    await this.worker.terminate();
  }
}
