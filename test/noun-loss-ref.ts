// float64 references shared by the per-group noun losses' tests (matched, grounded): the scaled cosine logits of
// groups against prompts, and the two-way cross-entropy against given row and column targets.

/** s·cos(row_i, prompt_j) with s = min(exp(logScale), 100)   rows:[N, p], prompts:[M, p] -> [N, M] */
export function scaledCosineRef(rows: Float64Array, prompts: Float64Array, logScale: number, p: number): Float64Array {
  const n = rows.length / p;
  const m = prompts.length / p;
  const unit = (x: Float64Array, i: number) => {
    const v = x.subarray(i * p, i * p + p);
    const norm = Math.sqrt(v.reduce((a, y) => a + y * y, 0));
    return Array.from(v, (y) => y / norm);
  };
  const s = Math.min(Math.exp(logScale), 100);
  const logits = new Float64Array(n * m);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) logits[i * m + j] = s * unit(rows, i).reduce((a, y, c) => a + y * unit(prompts, j)[c], 0);
  return logits;
}

/** weight · ½(mean over rows of CE(softmax(row), rowT) + mean over columns of CE(softmax(column), colT))   [N, M] */
export function twoWayCrossEntropyRef(logits: Float64Array, n: number, m: number, rowT: ArrayLike<number>, colT: ArrayLike<number>, weight: number): number {
  let rowPart = 0;
  for (let i = 0; i < n; i++) {
    const z = logits.subarray(i * m, i * m + m);
    const lse = Math.log(z.reduce((a, v) => a + Math.exp(v), 0));
    for (let j = 0; j < m; j++) rowPart += rowT[i * m + j] * (lse - z[j]);
  }
  let colPart = 0;
  for (let j = 0; j < m; j++) {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += Math.exp(logits[i * m + j]);
    for (let i = 0; i < n; i++) colPart += colT[i * m + j] * (Math.log(sum) - logits[i * m + j]);
  }
  return weight * 0.5 * (rowPart / n + colPart / m);
}
