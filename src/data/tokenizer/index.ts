// Picks the tokenizer a model directory calls for: CLIP BPE when its files are there (HF vocab.json + merges.txt,
// or OpenAI's bpe_simple_vocab_16e6.txt.gz), otherwise the fixture's word-level tokenizer sized from the config.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { UserError } from '../../util/errors.js';
import { ClipBpeTokenizer } from './clip-bpe.js';
import { WordTokenizer } from './word.js';
import type { Tokenizer } from './types.js';

export type { Tokenizer } from './types.js';
export { ClipBpeTokenizer } from './clip-bpe.js';
export { WordTokenizer } from './word.js';

/** The text_config fields the tokenizers need (HF GroupViTTextConfig names). */
export interface TextTokenConfig {
  vocab_size?: number;
  bos_token_id?: number;
  eos_token_id?: number;
  pad_token_id?: number;
  max_position_embeddings?: number;
  word_split?: 'whitespace' | 'punctuation';
}

export interface LoadTokenizerOptions {
  /** Padding id; defaults to 0 like NVlabs (HF pads with the end token; the causal encoder gives the same result). */
  padId?: number;
}

/** `config` may be the whole HF config (with text_config) or the text config itself. */
export function loadTokenizer(dir: string, config: { text_config?: TextTokenConfig } & TextTokenConfig, opts: LoadTokenizerOptions = {}): Tokenizer {
  const text: TextTokenConfig = config.text_config ?? config;
  const contextLength = text.max_position_embeddings ?? 77;
  const read = (name: string): string => readFileSync(join(dir, name), 'utf-8');

  if (existsSync(join(dir, 'vocab.json')) && existsSync(join(dir, 'merges.txt'))) {
    return ClipBpeTokenizer.fromHf(read('vocab.json'), read('merges.txt'), { contextLength, padId: opts.padId });
  }
  const gz = join(dir, 'bpe_simple_vocab_16e6.txt.gz');
  if (existsSync(gz)) return ClipBpeTokenizer.fromSimpleVocabGz(readFileSync(gz), { contextLength, padId: opts.padId });

  // No vocabulary files: the word tokenizer, with the config's bos/eos as start/end.
  const { vocab_size: vocabSize, bos_token_id: sotId, eos_token_id: eotId } = text;
  if (vocabSize === undefined || sotId === undefined || eotId === undefined) {
    throw new UserError(`${dir} has no vocab.json/merges.txt and its config lacks text_config vocab_size, bos_token_id or eos_token_id.`);
  }
  return new WordTokenizer({ vocabSize, sotId, eotId, contextLength, padId: opts.padId ?? 0, split: text.word_split });
}
