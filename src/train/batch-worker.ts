// A worker thread that makes training batches ahead of the GPU: it rebuilds the same BatchSource from plain data
// and answers each requested step with the batch's typed arrays (transferred, not copied).
import { parentPort, workerData } from 'node:worker_threads';
import { makeSource, type SourceSpec } from './source-spec.js';
import { SkipLog } from '../data/records.js';

const skipped = new SkipLog();
const source = makeSource(workerData as SourceSpec, skipped);
parentPort!.on('message', (step: number) => {
  try {
    const b = source.batch(step);
    const transfer = [b.pixels, b.captionIds, b.promptIds, b.patchAffinity, b.patchRepulsion, ...(b.groundingWeights ?? [])].flatMap((a) => (a ? [a.buffer as ArrayBuffer] : []));
    // unreadable images met while making this batch travel back so the main thread can warn with counts
    parentPort!.postMessage({ step, batch: b, skippedTotal: skipped.total, skippedSummary: skipped.summary() }, transfer);
  } catch (e) {
    parentPort!.postMessage({ step, error: (e as Error).message });
  }
});
