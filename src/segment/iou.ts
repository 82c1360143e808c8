// Intersection over union per class from a confusion matrix: the score of every segmentation evaluation here.
/** Per-class IoU from a confusion matrix (classes that never occur in prediction or truth get NaN and are left out). */
export class IoUMeter {
  readonly confusion: Float64Array;

  constructor(readonly numClasses: number) {
    this.confusion = new Float64Array(numClasses * numClasses);
  }

  /** Counts pixel pairs; truth values of `ignore` (VOC's 255 borders) are left out. */
  add(pred: ArrayLike<number>, truth: ArrayLike<number>, ignore = -1): void {
    for (let i = 0; i < truth.length; i++) {
      const t = truth[i];
      if (t === ignore) continue;
      if (t >= this.numClasses || pred[i] >= this.numClasses) throw new RangeError(`class ${Math.max(t, pred[i])} beyond ${this.numClasses - 1}`);
      this.confusion[t * this.numClasses + pred[i]]++;
    }
  }

  perClass(): number[] {
    const n = this.numClasses;
    return Array.from({ length: n }, (_, c) => {
      let tp = this.confusion[c * n + c];
      let fp = 0;
      let fn = 0;
      for (let k = 0; k < n; k++) {
        if (k === c) continue;
        fp += this.confusion[k * n + c];
        fn += this.confusion[c * n + k];
      }
      const union = tp + fp + fn;
      if (union === 0) return NaN;
      return tp / union;
    });
  }

  mean(): number {
    const v = this.perClass().filter((x) => !Number.isNaN(x));
    return v.length ? v.reduce((a, b) => a + b, 0) / v.length : 0;
  }

  pixelAccuracy(): number {
    let correct = 0;
    let total = 0;
    for (let c = 0; c < this.numClasses; c++) correct += this.confusion[c * this.numClasses + c];
    for (const v of this.confusion) total += v;
    return total ? correct / total : 0;
  }
}

/**
 * Per scene, each class present in the truth (background left out) counts as found when its own IoU in that scene,
 * pred == c against truth == c, is above `at`: what a user segmenting one picture sees, where the dataset-wide IoU
 * can hide that no single object is ever outlined.
 */
export class ObjectHits {
  found = 0;
  objects = 0;
  scenesAllFound = 0;
  scenes = 0;

  constructor(readonly numClasses: number, readonly at = 0.5, readonly background = 0) {}

  add(pred: ArrayLike<number>, truth: ArrayLike<number>): void {
    const inter = new Float64Array(this.numClasses);
    const predN = new Float64Array(this.numClasses);
    const truthN = new Float64Array(this.numClasses);
    for (let i = 0; i < truth.length; i++) {
      truthN[truth[i]]++;
      predN[pred[i]]++;
      if (pred[i] === truth[i]) inter[truth[i]]++;
    }
    let present = 0;
    let hits = 0;
    for (let c = 0; c < this.numClasses; c++) {
      if (c === this.background || truthN[c] === 0) continue;
      present++;
      if (inter[c] / (truthN[c] + predN[c] - inter[c]) > this.at) hits++;
    }
    this.objects += present;
    this.found += hits;
    this.scenes++;
    if (present > 0 && hits === present) this.scenesAllFound++;
  }
}
