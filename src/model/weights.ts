import { Tensor } from '../tensor/tensor.js';
import { UserError } from '../util/errors.js';
import { toFloat32, type HostTensor } from '../io/dtype.js';
import type { Module } from '../nn/module.js';

/** Parameters and buffers of a module by checkpoint name. */
export function modelTensors(model: Module): Map<string, Tensor> {
  return new Map([...model.namedParameters(), ...model.namedBuffers()]);
}

// Tensors a checkpoint may carry that the model does not keep (training counters, buffers HF recomputes).
const IGNORED = [/num_batches_tracked$/, /position_ids$/, /^multi_label_logit_scale$/];

/**
 * Copies a state dict (Hugging Face names) into the model. Every missing, unexpected or mis-shaped tensor is
 * reported by name in one sentence; nothing is written unless all match.
 */
export function loadStateDict(model: Module, state: Map<string, HostTensor>, source: string): void {
  const params = modelTensors(model);
  const missing = [...params.keys()].filter((k) => !state.has(k));
  const unexpected = [...state.keys()].filter((k) => !params.has(k) && !IGNORED.some((r) => r.test(k)));
  const misshaped: string[] = [];
  for (const [k, t] of params) {
    const s = state.get(k);
    if (s && s.shape.join(',') !== t.shape.join(',')) misshaped.push(`${k} is [${s.shape}] but the model needs [${t.shape}]`);
  }
  const problems: string[] = [];
  const list = (xs: string[]) => (xs.length > 6 ? `${xs.slice(0, 6).join(', ')} and ${xs.length - 6} more` : xs.join(', '));
  if (missing.length) problems.push(`missing ${list(missing)}`);
  if (unexpected.length) problems.push(`unexpected ${list(unexpected)}`);
  if (misshaped.length) problems.push(`wrong shape: ${list(misshaped)}`);
  if (problems.length) throw new UserError(`The weights in ${source} do not fit the model's configuration: ${problems.join('; ')}.`);
  for (const [k, t] of params) {
    const data = toFloat32(state.get(k)!);
    for (let i = 0; i < data.length; i++) {
      if (!Number.isFinite(data[i])) throw new UserError(`The weights in ${source} hold a non-finite value in ${k}.`);
    }
    t.upload(data); // into the existing buffer, so views of it stay valid
  }
}

/**
 * NVlabs checkpoint names → Hugging Face names (transformers' convert_groupvit_nvlab_to_hf.py): fused qkv and
 * in_proj split into q/k/v, 1×1 Conv1d projector weights squeezed, and the module renames.
 */
export function nvlabsToHf(state: Map<string, HostTensor>): Map<string, HostTensor> {
  const out = new Map<string, HostTensor>();
  for (const [name, t] of state) {
    if (/num_batches_tracked$/.test(name) || name === 'multi_label_logit_scale') continue;
    let k = name;
    const f = toFloat32(t);
    if (/\.attn\.qkv\.(weight|bias)$/.test(k) || /\.attn\.in_proj_(weight|bias)$/.test(k)) {
      const isW = /weight$/.test(k);
      const base = k
        .replace(/\.attn\.qkv\.(weight|bias)$/, '.attn')
        .replace(/\.attn\.in_proj_(weight|bias)$/, '.attn');
      const rows = t.shape[0] / 3;
      const cols = isW ? t.shape[1] : 1;
      ['q_proj', 'k_proj', 'v_proj'].forEach((p, i) => {
        const part = f.slice(i * rows * cols, (i + 1) * rows * cols);
        out.set(renameNv(`${base}.${p}.${isW ? 'weight' : 'bias'}`), { dtype: 'F32', shape: isW ? [rows, cols] : [rows], data: part });
      });
      continue;
    }
    let shape = t.shape;
    if (/_projector\.linear_(hidden\.0|out)\.weight$/.test(k) && shape.length === 3) shape = shape.slice(0, 2);
    k = renameNv(k);
    out.set(k, { dtype: 'F32', shape, data: f });
  }
  return out;
}

function renameNv(k: string): string {
  let n = k;
  n = n.replace(/^img_encoder\.patch_embed\.proj\./, 'vision_model.embeddings.patch_embeddings.projection.');
  n = n.replace(/^img_encoder\.patch_embed\.norm\./, 'vision_model.embeddings.layernorm.');
  n = n.replace(/^img_encoder\.pos_embed$/, 'vision_model.embeddings.position_embeddings');
  n = n.replace(/^img_encoder\.norm\./, 'vision_model.layernorm.');
  n = n.replace(/^img_encoder\.layers\./, 'vision_model.encoder.stages.');
  n = n.replace(/\.blocks\./, '.layers.');
  if (n.startsWith('vision_model.encoder.stages.') && !n.includes('pre_assign_attn')) {
    n = n.replace(/\.layers\.(\d+)\.attn\./, '.layers.$1.self_attn.');
    n = n.replace(/\.layers\.(\d+)\.norm1\./, '.layers.$1.layer_norm1.');
    n = n.replace(/\.layers\.(\d+)\.norm2\./, '.layers.$1.layer_norm2.');
  }
  n = n.replace(/\.self_attn\.proj\./, '.self_attn.out_proj.');
  n = n.replace(/\.pre_assign_attn\.attn\.proj\./, '.pre_assign_attn.attn.out_proj.');
  // text tower
  n = n.replace(/^text_encoder\.token_embedding\./, 'text_model.embeddings.token_embedding.');
  n = n.replace(/^text_encoder\.positional_embedding$/, 'text_model.embeddings.position_embedding.weight');
  n = n.replace(/^text_encoder\.ln_final\./, 'text_model.final_layer_norm.');
  n = n.replace(/^text_encoder\.transformer\.resblocks\./, 'text_model.encoder.layers.');
  if (n.startsWith('text_model.encoder.layers.')) {
    n = n.replace(/\.attn\.out_proj\./, '.self_attn.out_proj.');
    n = n.replace(/\.attn\.(q|k|v)_proj\./, '.self_attn.$1_proj.');
    n = n.replace(/\.ln_1\./, '.layer_norm1.');
    n = n.replace(/\.ln_2\./, '.layer_norm2.');
    n = n.replace(/\.mlp\.c_fc\./, '.mlp.fc1.');
    n = n.replace(/\.mlp\.c_proj\./, '.mlp.fc2.');
  }
  // projection heads
  n = n.replace(/^img_projector\.linear_hidden\.0\./, 'visual_projection.0.');
  n = n.replace(/^img_projector\.linear_hidden\.1\./, 'visual_projection.1.');
  n = n.replace(/^img_projector\.linear_out\./, 'visual_projection.3.');
  n = n.replace(/^text_projector\.linear_hidden\.0\./, 'text_projection.0.');
  n = n.replace(/^text_projector\.linear_hidden\.1\./, 'text_projection.1.');
  n = n.replace(/^text_projector\.linear_out\./, 'text_projection.3.');
  return n;
}

/** NVlabs checkpoints are recognised by their top-level module names. */
export function isNvlabsState(state: Map<string, HostTensor>): boolean {
  for (const k of state.keys()) if (k.startsWith('img_encoder.') || k.startsWith('text_encoder.')) return true;
  return false;
}
