import { readFileSync } from 'node:fs';
import { UserError } from '../util/errors.js';

/** GroupViT's configuration in Hugging Face's GroupViTConfig layout (config.json), with the defaults of the hub model. */
export interface TextConfig {
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  num_attention_heads: number;
  max_position_embeddings: number;
  hidden_act: 'quick_gelu' | 'gelu';
  layer_norm_eps: number;
  bos_token_id: number;
  eos_token_id: number;
  pad_token_id: number;
  /**
   * For models without a vocabulary file (the word-level tokenizer): 'whitespace' (the fixture's, the default) or
   * 'punctuation', which also splits punctuation off words, so "star." and "star," are the caption's "star".
   */
  word_split?: WordSplit;
}

export type WordSplit = 'whitespace' | 'punctuation';
export const WORD_SPLITS: readonly WordSplit[] = ['whitespace', 'punctuation'];

export interface VisionConfig {
  hidden_size: number;
  intermediate_size: number;
  depths: number[];
  num_group_tokens: number[];
  num_output_groups: number[];
  num_attention_heads: number;
  image_size: number;
  patch_size: number;
  num_channels: number;
  hidden_act: 'gelu' | 'quick_gelu';
  layer_norm_eps: number;
  assign_eps: number;
  assign_mlp_ratio: [number, number];
  /**
   * How pixels become tokens: 'linear' (the official model: one Conv2d with kernel = stride = patch_size) or 'conv',
   * this project's convolutional stem (a 3×3 stride-2 convolution, then 2×2 merges; PatchEmbeddings in vision.ts), or
   * 'conv3', the same stem with every layer a 3×3 stride-2 convolution: each token then sees 2p − 1 pixels across,
   * its neighbours' edges too, where the merges leave it its own p × p patch.
   * Absent means 'linear', so the configs of the released models are written back unchanged.
   */
  patch_embed?: PatchEmbedKind;
  /**
   * What the last grouping block's segment tokens are made of: 'tokens_and_group' (the official model: the mean of the
   * tokens assigned to a group plus the group token, which attended over the whole image before the assignment) or
   * 'tokens' (this project's option: the assigned tokens' mean alone, so that a final group carries its own pixels
   * rather than the scene; README, Training, eleventh session). Absent means 'tokens_and_group'.
   */
  last_segment_tokens?: SegmentTokenKind;
}

export type SegmentTokenKind = 'tokens_and_group' | 'tokens';
export const SEGMENT_TOKEN_KINDS: readonly SegmentTokenKind[] = ['tokens_and_group', 'tokens'];

export type PatchEmbedKind = 'linear' | 'conv' | 'conv3';
export const PATCH_EMBED_KINDS: readonly PatchEmbedKind[] = ['linear', 'conv', 'conv3'];

export interface GroupViTConfig {
  text_config: TextConfig;
  vision_config: VisionConfig;
  projection_dim: number;
  projection_intermediate_dim: number;
  logit_scale_init_value: number;
  /**
   * How the image embedding comes from the final groups: 'pool_then_project' (the official model: the groups'
   * mean through the projection head) or 'project_then_pool' (this project's option: the mean of the groups' own
   * projected embeddings, the ones segmentation names, so that training reaches them through the text space).
   * Absent means 'pool_then_project', so the released models' configs are written back unchanged.
   */
  image_embed?: ImageEmbedKind;
}

export type ImageEmbedKind = 'pool_then_project' | 'project_then_pool';
export const IMAGE_EMBED_KINDS: readonly ImageEmbedKind[] = ['pool_then_project', 'project_then_pool'];

const TEXT_DEFAULTS: TextConfig = {
  vocab_size: 49408, hidden_size: 256, intermediate_size: 1024, num_hidden_layers: 12, num_attention_heads: 4,
  max_position_embeddings: 77, hidden_act: 'quick_gelu', layer_norm_eps: 1e-5, bos_token_id: 49406, eos_token_id: 49407, pad_token_id: 1,
};

const VISION_DEFAULTS: VisionConfig = {
  hidden_size: 384, intermediate_size: 1536, depths: [6, 3, 3], num_group_tokens: [64, 8, 0], num_output_groups: [64, 8, 8],
  num_attention_heads: 6, image_size: 224, patch_size: 16, num_channels: 3, hidden_act: 'gelu', layer_norm_eps: 1e-5,
  assign_eps: 1, assign_mlp_ratio: [0.5, 4],
};

function isPosInt(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v > 0;
}

export function parseConfig(raw: unknown, source = 'config'): GroupViTConfig {
  const bad = (what: string) => new UserError(`${source}: ${what}.`);
  if (!raw || typeof raw !== 'object') throw bad('is not a JSON object');
  const r = raw as Record<string, unknown>;
  const text = { ...TEXT_DEFAULTS, ...((r.text_config as object) ?? {}) } as TextConfig;
  const vision = { ...VISION_DEFAULTS, ...((r.vision_config as object) ?? {}) } as VisionConfig;
  const cfg: GroupViTConfig = {
    text_config: text,
    vision_config: vision,
    projection_dim: (r.projection_dim as number) ?? 256,
    projection_intermediate_dim: (r.projection_intermediate_dim as number) ?? 4096,
    logit_scale_init_value: (r.logit_scale_init_value as number) ?? 2.6592,
  };
  if (r.image_embed !== undefined) {
    if (!IMAGE_EMBED_KINDS.includes(r.image_embed as ImageEmbedKind)) {
      throw bad(`image_embed must be ${IMAGE_EMBED_KINDS.map((k) => `"${k}"`).join(' or ')}, not ${JSON.stringify(r.image_embed)}`);
    }
    cfg.image_embed = r.image_embed as ImageEmbedKind;
  }
  for (const k of ['vocab_size', 'hidden_size', 'intermediate_size', 'num_hidden_layers', 'num_attention_heads', 'max_position_embeddings'] as const) {
    if (!isPosInt(text[k])) throw bad(`text_config.${k} must be a positive integer`);
  }
  for (const k of ['hidden_size', 'intermediate_size', 'num_attention_heads', 'image_size', 'patch_size', 'num_channels'] as const) {
    if (!isPosInt(vision[k])) throw bad(`vision_config.${k} must be a positive integer`);
  }
  // the last stage may have no layers: its segment tokens then go straight to the pooling (no attention among them)
  const depthOk = (d: unknown, i: number) => isPosInt(d) || (d === 0 && i === vision.depths.length - 1 && i > 0);
  if (!Array.isArray(vision.depths) || !vision.depths.every(depthOk)) throw bad('vision_config.depths must list positive integers (the last may be 0)');
  const stages = vision.depths.length;
  if (vision.num_group_tokens.length !== stages) throw bad('vision_config.num_group_tokens needs one entry per stage');
  if (vision.num_output_groups.length < stages - 1) throw bad('vision_config.num_output_groups needs an entry per grouping stage');
  if (text.hidden_size % text.num_attention_heads) throw bad('text hidden_size must be divisible by its heads');
  if (vision.hidden_size % vision.num_attention_heads) throw bad('vision hidden_size must be divisible by its heads');
  if (text.word_split !== undefined && !WORD_SPLITS.includes(text.word_split)) {
    throw bad(`text_config.word_split must be ${WORD_SPLITS.map((k) => `"${k}"`).join(' or ')}, not ${JSON.stringify(text.word_split)}`);
  }
  if (vision.patch_embed !== undefined && !PATCH_EMBED_KINDS.includes(vision.patch_embed)) {
    throw bad(`vision_config.patch_embed must be ${PATCH_EMBED_KINDS.map((k) => `"${k}"`).join(' or ')}, not ${JSON.stringify(vision.patch_embed)}`);
  }
  if (vision.last_segment_tokens !== undefined && !SEGMENT_TOKEN_KINDS.includes(vision.last_segment_tokens)) {
    throw bad(`vision_config.last_segment_tokens must be ${SEGMENT_TOKEN_KINDS.map((k) => `"${k}"`).join(' or ')}, not ${JSON.stringify(vision.last_segment_tokens)}`);
  }
  if (vision.patch_embed === 'conv' || vision.patch_embed === 'conv3') {
    const p = vision.patch_size;
    if (p < 4 || (p & (p - 1)) !== 0) throw bad(`vision_config.patch_embed "${vision.patch_embed}" halves the grid per layer, so patch_size must be a power of two of at least 4, not ${p}`);
    if (vision.hidden_size % 2) throw bad(`vision_config.patch_embed "${vision.patch_embed}" starts at half the width, so hidden_size must be even, not ${vision.hidden_size}`);
    if (vision.patch_embed === 'conv3' && vision.hidden_size % 8) throw bad(`vision_config.patch_embed "conv3" copies its windows four channels at a time from half the width, so hidden_size must be a multiple of 8, not ${vision.hidden_size}`);
  }
  if (!isPosInt(cfg.projection_dim) || !isPosInt(cfg.projection_intermediate_dim)) throw bad('projection dims must be positive integers');
  return cfg;
}

/** A config.json as a plain object; one sentence when it is missing, unreadable or not a JSON object. */
export function readRawConfig(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new UserError(`Cannot read the model configuration ${path}.`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new UserError(`The model configuration ${path} is not valid JSON.`);
  }
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) throw new UserError(`The model configuration ${path} is not a JSON object.`);
  return raw as Record<string, unknown>;
}

export function readConfig(path: string): GroupViTConfig {
  return parseConfig(readRawConfig(path), path);
}
