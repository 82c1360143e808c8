// Built-in configurations for the released NVlabs GroupViT models, in Hugging Face's GroupViTConfig layout (the
// config.json of the hub folders nvidia/groupvit-gcc-yfcc and nvidia/groupvit-gcc-redcaps). The NVlabs .pth
// checkpoints carry no configuration, so `--weights model.pth` needs one of these (or --config FILE).
// Values: ../shared/design/GROUPVIT.md §1.1 (group_vit_gcc_{yfcc,redcap}_30e.yml) and §4.1 (HF defaults).
import { UserError } from '../util/errors.js';
import { parseConfig, type GroupViTConfig } from './config.js';

/** The architecture both released models share (only the training data differs). */
function releasedConfig(): Record<string, unknown> {
  return {
    architectures: ['GroupViTModel'],
    model_type: 'groupvit',
    initializer_factor: 1.0,
    logit_scale_init_value: 2.6592,
    output_segmentation: false,
    projection_dim: 256,
    projection_intermediate_dim: 4096,
    torch_dtype: 'float32',
    text_config: {
      model_type: 'groupvit_text_model',
      vocab_size: 49408,
      hidden_size: 256,
      intermediate_size: 1024,
      num_hidden_layers: 12,
      num_attention_heads: 4,
      max_position_embeddings: 77,
      hidden_act: 'quick_gelu',
      layer_norm_eps: 1e-5,
      dropout: 0.0,
      attention_dropout: 0.0,
      initializer_range: 0.02,
      initializer_factor: 1.0,
      // CLIP's <|startoftext|> / <|endoftext|>; the text tower pools at the largest id (the end token) either way.
      bos_token_id: 49406,
      eos_token_id: 49407,
      pad_token_id: 1,
    },
    vision_config: {
      model_type: 'groupvit_vision_model',
      hidden_size: 384,
      intermediate_size: 1536,
      depths: [6, 3, 3],
      num_hidden_layers: 12,
      num_group_tokens: [64, 8, 0],
      num_output_groups: [64, 8, 8],
      num_attention_heads: 6,
      image_size: 224,
      patch_size: 16,
      num_channels: 3,
      hidden_act: 'gelu',
      layer_norm_eps: 1e-5,
      dropout: 0.0,
      attention_dropout: 0.0,
      initializer_range: 0.02,
      initializer_factor: 1.0,
      assign_eps: 1.0,
      assign_mlp_ratio: [0.5, 4],
    },
  };
}

export interface Preset {
  name: string;
  description: string;
  /** The NVlabs release file these weights come as. */
  nvlabsFile: string;
  /** The Hugging Face hub folder with the same weights. */
  hubFolder: string;
}

export const PRESETS: readonly Preset[] = [
  {
    name: 'gcc-yfcc',
    description: 'group_vit_gcc_yfcc_30e: trained on CC3M + CC12M + YFCC14M (52.3 mIoU zero-shot on PASCAL VOC)',
    nvlabsFile: 'group_vit_gcc_yfcc_30e-879422e0.pth',
    hubFolder: 'nvidia/groupvit-gcc-yfcc',
  },
  {
    name: 'gcc-redcap',
    description: 'group_vit_gcc_redcap_30e: trained on CC3M + CC12M + RedCaps12M',
    nvlabsFile: 'group_vit_gcc_redcap_30e-3dd09a76.pth',
    hubFolder: 'nvidia/groupvit-gcc-redcaps',
  },
];

/** The preset a configuration-less checkpoint (an NVlabs .pth) gets. */
export const DEFAULT_PRESET = 'gcc-yfcc';

// Accepted spellings besides the names above (the hub folder says "redcaps", the NVlabs config "redcap").
const ALIASES: Record<string, string> = {
  'gcc-redcaps': 'gcc-redcap',
  group_vit_gcc_yfcc_30e: 'gcc-yfcc',
  group_vit_gcc_redcap_30e: 'gcc-redcap',
  'nvidia/groupvit-gcc-yfcc': 'gcc-yfcc',
  'nvidia/groupvit-gcc-redcaps': 'gcc-redcap',
};

export function presetNames(): string[] {
  return PRESETS.map((p) => p.name);
}

export function findPreset(name: string): Preset {
  const key = ALIASES[name.toLowerCase()] ?? name.toLowerCase();
  const p = PRESETS.find((q) => q.name === key);
  if (!p) throw new UserError(`There is no built-in configuration named "${name}"; choose ${presetNames().join(' or ')}.`);
  return p;
}

/** The preset's config.json content (a fresh object each call). */
export function presetRawConfig(name: string): Record<string, unknown> {
  findPreset(name);
  return releasedConfig();
}

export function presetConfig(name: string): GroupViTConfig {
  const p = findPreset(name);
  return parseConfig(presetRawConfig(p.name), `the built-in configuration ${p.name}`);
}
