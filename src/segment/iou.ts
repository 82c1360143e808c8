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
