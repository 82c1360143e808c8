import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { initGpu, releaseGpu } from '../src/gpu/runtime.js';
import { trainPreset } from '../src/train/presets.js';
import { parseConfig } from '../src/model/config.js';

/** Opens the device before the file's tests and releases it after, so the process exits. */
export function useGpu(): void {
  before(async () => {
    await initGpu();
  });
  after(() => releaseGpu());
}

/** Deterministic generator (mulberry32) so every test input is reproducible. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randn(n: number, seed: number, scale = 1): Float64Array {
  const r = rng(seed);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const u = Math.max(r(), 1e-12);
    out[i] = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r()) * scale;
  }
  return out;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  assert.equal(a.length, b.length, 'length mismatch');
  let m = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    if (!(d <= m)) m = Number.isNaN(d) ? Infinity : d;
  }
  return m;
}

/** Elementwise |got - want| <= atol + rtol·|want|, with the worst offender in the message. */
export function assertClose(got: ArrayLike<number>, want: ArrayLike<number>, atol = 1e-4, rtol = 1e-4, what = ''): void {
  assert.equal(got.length, want.length, `${what}: length ${got.length} != ${want.length}`);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < got.length; i++) {
    const d = Math.abs(got[i] - want[i]);
    const lim = atol + rtol * Math.abs(want[i]);
    if (!(d <= lim) && (worst < 0 || d - lim > worstExcess || Number.isNaN(d))) {
      worst = i;
      worstExcess = d - lim;
    }
  }
  if (worst >= 0) {
    assert.fail(`${what}: mismatch at ${worst}: got ${got[worst]}, want ${want[worst]} (max abs diff ${maxAbsDiff(got, want)})`);
  }
}

/**
 * Central finite differences of a scalar float64 function f at x, for the coordinates idx (all when omitted).
 * Used to check every backward: the reference forward in float64 keeps the difference quotient exact to ~1e-8.
 */
export function numericGrad(f: (x: Float64Array) => number, x: Float64Array, eps = 1e-5, idx?: number[]): Float64Array {
  const g = new Float64Array(x.length);
  const ids = idx ?? [...Array(x.length).keys()];
  for (const i of ids) {
    const v = x[i];
    x[i] = v + eps;
    const fp = f(x);
    x[i] = v - eps;
    const fm = f(x);
    x[i] = v;
    g[i] = (fp - fm) / (2 * eps);
  }
  return g;
}

/** Dot of a float64 array with fixed random weights: turns a tensor output into a scalar loss for gradient checks. */
export function weightedSum(y: ArrayLike<number>, w: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) s += y[i] * w[i];
  return s;
}

/** The tiny preset's world and prompts on a model small enough for a test: one layer a stage, width 16. */
export function smallPresetConfig(imageSize: number, groups: [number, number]) {
  const recipe = trainPreset('tiny');
  return parseConfig({
    ...JSON.parse(JSON.stringify(recipe.config)),
    vision_config: { ...recipe.config.vision_config, hidden_size: 16, intermediate_size: 32, num_attention_heads: 2, image_size: imageSize, depths: [1, 1, 1], num_group_tokens: [...groups, 0], num_output_groups: [...groups, groups[1]] },
    text_config: { ...recipe.config.text_config, hidden_size: 16, intermediate_size: 32, num_attention_heads: 2, num_hidden_layers: 1 },
    projection_dim: 16, projection_intermediate_dim: 32,
  });
}
