import { Tensor } from '../tensor/tensor.js';
import { Module, param } from '../nn/module.js';
import { LayerNorm } from '../nn/layernorm.js';
import { normal } from '../nn/init.js';
import { add } from '../ops/elementwise.js';
import { embedding } from '../ops/embedding.js';
import { Rng } from '../util/rng.js';
import type { TextConfig } from './config.js';
import { EncoderLayer } from './vision.js';
import { traceSet, type Trace } from './trace.js';

export class TextEmbeddings extends Module {
  token_embedding: { weight: Tensor } & Module;
  position_embedding: { weight: Tensor } & Module;

  constructor(cfg: TextConfig, rng: Rng) {
    super();
    const tok = param(normal([cfg.vocab_size, cfg.hidden_size], 0.02, rng));
    const pos = param(normal([cfg.max_position_embeddings, cfg.hidden_size], 0.01, rng));
    this.token_embedding = new (class extends Module {
      weight = tok;
    })();
    this.position_embedding = new (class extends Module {
      weight = pos;
    })();
  }
}

/** Index of the pooled token of each row: the first occurrence of the largest id (CLIP's EOT = argmax). */
export function poolIndex(ids: Int32Array, rows: number, len: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < rows; r++) {
    let best = 0;
    for (let i = 1; i < len; i++) if (ids[r * len + i] > ids[r * len + best]) best = i;
    out.push(r * len + best);
  }
  return out;
}

// CLIP-style causal text transformer   ids:[B, L] -> pooled [B, W] (hidden state at the end-of-text token)
export class TextTransformer extends Module {
  embeddings: TextEmbeddings;
  encoder: { layers: EncoderLayer[] } & Module;
  final_layer_norm: LayerNorm;

  constructor(readonly cfg: TextConfig, rng: Rng) {
    super();
    this.embeddings = new TextEmbeddings(cfg, rng);
    const layers: EncoderLayer[] = [];
    for (let i = 0; i < cfg.num_hidden_layers; i++) {
      layers.push(new EncoderLayer(cfg.hidden_size, cfg.num_attention_heads, cfg.intermediate_size, cfg.hidden_act, cfg.layer_norm_eps, rng, true));
    }
    this.encoder = new (class extends Module {
      layers = layers;
    })();
    this.final_layer_norm = new LayerNorm(cfg.hidden_size, cfg.layer_norm_eps);
  }

  forward(ids: Int32Array, rows: number, trace?: Trace): { lastHidden: Tensor; pooled: Tensor } {
    const len = ids.length / rows;
    if (len > this.cfg.max_position_embeddings) {
      throw new Error(`text of ${len} tokens exceeds the ${this.cfg.max_position_embeddings} positions of the model`);
    }
    const w = this.cfg.hidden_size;
    const tok = embedding(this.embeddings.token_embedding.weight, ids, [rows, len]);
    const posIds = Int32Array.from({ length: len }, (_, i) => i);
    const pos = embedding(this.embeddings.position_embedding.weight, posIds, [len]);
    let x = add(tok, pos);
    traceSet(trace, 'text.embeddings', x);
    this.encoder.layers.forEach((layer, i) => {
      x = layer.forward(x);
      traceSet(trace, `text.layer${i}.out`, x);
    });
    const lastHidden = this.final_layer_norm.forward(x);
    traceSet(trace, 'text.last_hidden_state', lastHidden);
    const pooled = embedding(lastHidden.view([rows * len, w]), poolIndex(ids, rows, len), [rows]);
    traceSet(trace, 'text.pooled', pooled);
    return { lastHidden, pooled };
  }
}
