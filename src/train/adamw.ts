import { gpu } from '../gpu/runtime.js';
import { Tensor } from '../tensor/tensor.js';
import { fill } from '../ops/elementwise.js';
import { f, grid1d, run } from '../ops/dispatch.js';

export interface AdamWOptions {
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
  /** Global gradient-norm clip (0: none). */
  maxNorm?: number;
  /** Gradient-norm partials per workgroup: 64 (no barriers: lavapipe's choice) or 1; default by adapter. */
  normLanes?: 1 | 64;
}

/** GroupViT's decay rule (§1.6): no decay for 1-D parameters and biases; 0-dim scales, pos-embeds, group tokens decay. */
export function decays(name: string, t: Tensor): boolean {
  return !(t.rank === 1 || name.endsWith('.bias'));
}

/**
 * AdamW over named parameters, entirely on the GPU: the gradient norm, the clip factor and every update are
 * dispatches in the step's command encoder; nothing is read back.
 */
export class AdamW {
  readonly m: Tensor[];
  readonly v: Tensor[];
  step = 0;
  private partials: Tensor;
  /** Gradient-norm partials per workgroup: 64 on software adapters, 1 elsewhere. */
  private lanes: number;
  /** [global grad norm, clip factor], on the GPU: read it only when a human needs it. */
  readonly scalars: Tensor;
  private slots: { slot: number; groups: number }[] = [];
  readonly o: Required<AdamWOptions>;

  constructor(readonly params: [string, Tensor][], o: AdamWOptions = {}) {
    this.o = { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.05, maxNorm: 5, normLanes: gpu().isSoftware ? 64 : 1, ...o };
    this.m = params.map(([, p]) => fill(p.shape, 0).keep());
    this.v = params.map(([, p]) => fill(p.shape, 0).keep());
    let slot = 0;
    for (const [, p] of params) {
      const groups = Math.min(256, Math.max(1, Math.ceil(p.size / 4096)));
      this.slots.push({ slot, groups });
      slot += groups;
    }
    // lavapipe: one partial per invocation, no barriers (kernels/adamw.wgsl sumsq_lanes); real GPUs: one per workgroup
    this.lanes = this.o.normLanes;
    this.partials = Tensor.empty([slot * this.lanes]).keep();
    this.scalars = fill([2], 0).keep();
  }

  /** One update with learning rate lr; parameters without a gradient are skipped (their moments stay). */
  update(lr: number): void {
    this.step++;
    const { beta1, beta2, eps, weightDecay, maxNorm } = this.o;
    const bc1 = 1 - beta1 ** this.step;
    const bc2 = 1 - beta2 ** this.step;
    const base = (n: number, slot: number, wd: number) => [n, slot, f(lr), f(beta1), f(beta2), f(eps), f(wd), f(bc1), f(bc2), f(maxNorm)];
    const zero = fill([1], 0);
    this.params.forEach(([, p], k) => {
      const { slot, groups } = this.slots[k];
      run({
        file: 'adamw', entry: this.lanes === 64 ? 'sumsq_lanes' : 'sumsq_partial', uniforms: base(p.size, slot, 0),
        buffers: [null, (p.grad ?? zero).buffer, null, null, this.partials.buffer], workgroups: [groups],
      });
    });
    const total = this.slots.reduce((a, s) => a + s.groups, 0);
    run({ file: 'adamw', entry: 'clip_factor', uniforms: base(this.lanes, total, 0), buffers: [null, null, null, null, this.partials.buffer, this.scalars.buffer], workgroups: [1] });
    this.params.forEach(([name, p], k) => {
      if (!p.grad) return;
      run({
        file: 'adamw', entry: 'adamw_step', uniforms: base(p.size, 0, decays(name, p) ? weightDecay : 0),
        buffers: [p.buffer, p.grad.buffer, this.m[k].buffer, this.v[k].buffer, null, this.scalars.buffer], workgroups: grid1d(p.size),
      });
    });
    zero.release();
  }

  release(): void {
    for (const t of [...this.m, ...this.v, this.partials, this.scalars]) t.release();
  }
}

/** Linear warm-up to `peak`, then cosine decay to `min` (per step, as timm's CosineLRScheduler with warmup_lr). */
export function cosineLr(step: number, total: number, warmup: number, peak: number, min: number, warmupStart = 0): number {
  if (step < warmup) return warmupStart + ((peak - warmupStart) * step) / Math.max(1, warmup);
  const t = (step - warmup) / Math.max(1, total - warmup);
  return min + 0.5 * (peak - min) * (1 + Math.cos(Math.PI * Math.min(1, t)));
}
