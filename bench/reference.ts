// Plain-loop float64 references for the benchmark's error column: each kernel is also run on a small instance and
// compared with these (the tests hold the thorough checks; this catches a kernel variant broken at bench time).

export type F = ArrayLike<number>;

export function maxAbs(got: F, want: F): number {
  if (got.length !== want.length) return Infinity;
  let m = 0;
  for (let i = 0; i < got.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

export interface AttnRef {
  out: Float64Array;
  dq: Float64Array;
  dk: Float64Array;
  dv: Float64Array;
}

/**
 * Multi-head attention on [B, L, H·D] layouts (head h = channels h·D..): out = softmax(Q·Kᵀ·scale + mask)·V and,
 * given dO, the gradients of Σ out∘dO w.r.t. q, k, v.
 */
export function attentionRef(q: F, k: F, v: F, gOut: F, B: number, H: number, lq: number, lk: number, D: number, causal: boolean): AttnRef {
  const C = H * D;
  const scale = 1 / Math.sqrt(D);
  const out = new Float64Array(B * lq * C);
  const dq = new Float64Array(B * lq * C);
  const dk = new Float64Array(B * lk * C);
  const dv = new Float64Array(B * lk * C);
  const p = new Float64Array(lk);
  const dp = new Float64Array(lk);
  for (let b = 0; b < B; b++)
    for (let h = 0; h < H; h++)
      for (let i = 0; i < lq; i++) {
        const qi = (b * lq + i) * C + h * D;
        let m = -Infinity;
        for (let j = 0; j < lk; j++) {
          if (causal && j > i) {
            p[j] = -Infinity;
            continue;
          }
          let s = 0;
          const kj = (b * lk + j) * C + h * D;
          for (let e = 0; e < D; e++) s += q[qi + e] * k[kj + e];
          p[j] = s * scale;
          m = Math.max(m, p[j]);
        }
        let z = 0;
        for (let j = 0; j < lk; j++) z += p[j] = p[j] === -Infinity ? 0 : Math.exp(p[j] - m);
        for (let j = 0; j < lk; j++) p[j] /= z;
        // out, dv, dP
        let dot = 0;
        for (let j = 0; j < lk; j++) {
          const vj = (b * lk + j) * C + h * D;
          let d = 0;
          for (let e = 0; e < D; e++) {
            out[qi + e] += p[j] * v[vj + e];
            dv[vj + e] += p[j] * gOut[qi + e];
            d += gOut[qi + e] * v[vj + e];
          }
          dp[j] = d;
          dot += p[j] * d;
        }
        for (let j = 0; j < lk; j++) {
          const ds = p[j] * (dp[j] - dot) * scale;
          if (ds === 0) continue;
          const kj = (b * lk + j) * C + h * D;
          for (let e = 0; e < D; e++) {
            dq[qi + e] += ds * k[kj + e];
            dk[kj + e] += ds * q[qi + e];
          }
        }
      }
  return { out, dq, dk, dv };
}

/** Noise-free hard assignment (eval; gumbel off): soft = softmax over groups, y = one-hot arg-max, attn = y/(Σ_l y + eps). */
export function assignRef(raw: F, B: number, S: number, L: number, eps: number): { soft: Float64Array; attn: Float64Array } {
  const soft = new Float64Array(B * S * L);
  const y = new Float64Array(B * S * L);
  for (let b = 0; b < B; b++)
    for (let l = 0; l < L; l++) {
      let m = -Infinity;
      let best = 0;
      for (let s = 0; s < S; s++) {
        const r = raw[(b * S + s) * L + l];
        if (r > m) (m = r), (best = s);
      }
      let z = 0;
      for (let s = 0; s < S; s++) z += Math.exp(raw[(b * S + s) * L + l] - m);
      for (let s = 0; s < S; s++) soft[(b * S + s) * L + l] = Math.exp(raw[(b * S + s) * L + l] - m) / z;
      y[(b * S + best) * L + l] = 1;
    }
  const attn = new Float64Array(B * S * L);
  for (let r = 0; r < B * S; r++) {
    let z = eps;
    for (let l = 0; l < L; l++) z += y[r * L + l];
    for (let l = 0; l < L; l++) attn[r * L + l] = y[r * L + l] / z;
  }
  return { soft, attn };
}

/** ½·(mean_rows CE(softmax(row), rowT) + mean_cols CE(softmax(col), colT)) and its gradient w.r.t. the logits. */
export function softCrossEntropyRef(x: F, rowT: F, colT: F, N: number, M: number): { loss: number; grad: Float64Array } {
  const grad = new Float64Array(N * M);
  let rows = 0;
  for (let i = 0; i < N; i++) {
    let m = -Infinity;
    for (let j = 0; j < M; j++) m = Math.max(m, x[i * M + j]);
    let z = 0;
    for (let j = 0; j < M; j++) z += Math.exp(x[i * M + j] - m);
    const lse = m + Math.log(z);
    let ts = 0;
    for (let j = 0; j < M; j++) {
      rows -= rowT[i * M + j] * (x[i * M + j] - lse);
      ts += rowT[i * M + j];
    }
    for (let j = 0; j < M; j++) grad[i * M + j] += (0.5 / N) * (Math.exp(x[i * M + j] - lse) * ts - rowT[i * M + j]);
  }
  let cols = 0;
  for (let j = 0; j < M; j++) {
    let m = -Infinity;
    for (let i = 0; i < N; i++) m = Math.max(m, x[i * M + j]);
    let z = 0;
    for (let i = 0; i < N; i++) z += Math.exp(x[i * M + j] - m);
    const lse = m + Math.log(z);
    let ts = 0;
    for (let i = 0; i < N; i++) {
      cols -= colT[i * M + j] * (x[i * M + j] - lse);
      ts += colT[i * M + j];
    }
    for (let i = 0; i < N; i++) grad[i * M + j] += (0.5 / M) * (Math.exp(x[i * M + j] - lse) * ts - colT[i * M + j]);
  }
  return { loss: 0.5 * (rows / N + cols / M), grad };
}

/** LayerNorm over the last axis and its backward for the upstream gradient gy. */
export function layerNormRef(x: F, w: F, b: F, gy: F, rows: number, C: number, eps: number) {
  const y = new Float64Array(rows * C);
  const gx = new Float64Array(rows * C);
  const gw = new Float64Array(C);
  const gb = new Float64Array(C);
  for (let r = 0; r < rows; r++) {
    let mu = 0;
    for (let c = 0; c < C; c++) mu += x[r * C + c];
    mu /= C;
    let v = 0;
    for (let c = 0; c < C; c++) v += (x[r * C + c] - mu) ** 2;
    v /= C;
    const rstd = 1 / Math.sqrt(v + eps);
    let s1 = 0;
    let s2 = 0;
    for (let c = 0; c < C; c++) {
      const xh = (x[r * C + c] - mu) * rstd;
      y[r * C + c] = xh * w[c] + b[c];
      const g = gy[r * C + c];
      gw[c] += g * xh;
      gb[c] += g;
      s1 += g * w[c];
      s2 += g * w[c] * xh;
    }
    for (let c = 0; c < C; c++) {
      const xh = (x[r * C + c] - mu) * rstd;
      gx[r * C + c] = rstd * (gy[r * C + c] * w[c] - s1 / C - (xh * s2) / C);
    }
  }
  return { y, gx, gw, gb };
}

/** erf to ~1e-12: its Taylor series below 4 (float64 loses at most ~5 digits there), ±1 beyond (|erfc(4)| < 2e-8). */
export function erf(x: number): number {
  const a = Math.abs(x);
  if (a >= 4) return Math.sign(x);
  let term = a;
  let sum = a;
  for (let n = 1; n < 200; n++) {
    term *= (-a * a) / n;
    const t = term / (2 * n + 1);
    sum += t;
    if (Math.abs(t) < 1e-17) break;
  }
  return Math.sign(x) * (2 / Math.sqrt(Math.PI)) * sum;
}

export function geluRef(x: F, gy: F): { y: Float64Array; gx: Float64Array } {
  const y = new Float64Array(x.length);
  const gx = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    const cdf = 0.5 * (1 + erf(v / Math.SQRT2));
    y[i] = v * cdf;
    gx[i] = gy[i] * (cdf + (v * Math.exp(-0.5 * v * v)) / Math.sqrt(2 * Math.PI));
  }
  return { y, gx };
}

/** One AdamW step (PyTorch's, with the global-norm clip) over several tensors; returns the new parameters. */
export function adamwRef(
  params: F[],
  grads: F[],
  o: { lr: number; beta1: number; beta2: number; eps: number; wd: number[]; maxNorm: number; step: number },
): Float64Array[] {
  let sq = 0;
  for (const g of grads) for (let i = 0; i < g.length; i++) sq += g[i] * g[i];
  const norm = Math.sqrt(sq);
  const clip = o.maxNorm > 0 ? Math.min(1, o.maxNorm / (norm + 1e-6)) : 1;
  const bc1 = 1 - o.beta1 ** o.step;
  const bc2 = 1 - o.beta2 ** o.step;
  return params.map((p, k) => {
    const out = new Float64Array(p.length);
    for (let i = 0; i < p.length; i++) {
      const g = grads[k][i] * clip;
      const m = (1 - o.beta1) * g;
      const v = (1 - o.beta2) * g * g;
      const w = p[i] * (1 - o.lr * o.wd[k]);
      out[i] = w - ((o.lr / bc1) * m) / (Math.sqrt(v) / Math.sqrt(bc2) + o.eps);
    }
    return out;
  });
}
