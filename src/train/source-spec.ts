import type { GroupViTConfig } from '../model/config.js';
import { loadTokenizer } from '../data/tokenizer/index.js';
import type { ImageTextIndex } from '../data/records.js';
import { SkipLog } from '../data/records.js';
import { RecordBatches, ShapesBatches, type BatchSource, type PromptSpec } from './batches.js';
import { withPatchWeights, type PatchTerms } from './patch-affinity.js';
import { withGroundingWeights } from './colour-grounding.js';

/** Everything needed to rebuild a batch source in another thread: plain, structured-cloneable data. */
export interface SourceSpec {
  kind: 'shapes' | 'records';
  seed: number;
  batchSize: number;
  imageSize: number;
  prompts: PromptSpec;
  /** Folder with tokenizer files ('' for the word tokenizer of the config). */
  tokenizerDir: string;
  config: GroupViTConfig;
  index?: { source: string; records: ImageTextIndex['records'] };
  /** Patch weights of the grouping terms to make with each batch (absent: none). */
  patchTerms?: PatchTerms;
}

export function makeSource(s: SourceSpec, skipped = new SkipLog()): BatchSource {
  const tok = loadTokenizer(s.tokenizerDir || '/nonexistent', s.config);
  const source =
    s.kind === 'shapes'
      ? new ShapesBatches(s.seed, s.batchSize, s.imageSize, tok, s.prompts)
      : new RecordBatches({ source: s.index!.source, records: s.index!.records, skipped }, s.seed, s.batchSize, s.imageSize, tok, s.prompts);
  const terms = s.patchTerms;
  const groundingFrom = terms?.groundingFrom;
  if (!terms || !(terms.affinity || terms.repulsion || groundingFrom !== undefined)) return source;
  const patchWeighted = (step: number) => (step >= terms.fromStep && (terms.affinity || terms.repulsion) ? withPatchWeights(source.batch(step), terms) : source.batch(step));
  const batch = groundingFrom === undefined ? patchWeighted : (step: number) => (step >= groundingFrom ? withGroundingWeights(patchWeighted(step), terms.gridH, terms.gridW) : patchWeighted(step));
  return { batch, describe: () => source.describe() };
}
