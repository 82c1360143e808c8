// The interface every tokenizer implements, kept apart so the implementations and the loader can share it.

export interface Tokenizer {
  /** Token ids for one text: start token, tokens, end token, then padding, always exactly contextLength long. */
  encode(text: string): Int32Array;
  readonly contextLength: number;
  readonly vocabSize: number;
  readonly sotId: number;
  readonly eotId: number;
}

/**
 * [SOT] + ids + [EOT], zero-padded (or padId-padded) to contextLength. When too long it is cut to contextLength
 * and the last slot forced to EOT, as NVlabs' tokenize(truncate=True) does: the text encoder pools at the EOT.
 */
export function frame(ids: readonly number[], sotId: number, eotId: number, contextLength: number, padId = 0): Int32Array {
  const out = new Int32Array(contextLength).fill(padId);
  const all = [sotId, ...ids, eotId];
  const n = Math.min(all.length, contextLength);
  for (let i = 0; i < n; i++) out[i] = all[i];
  if (all.length > contextLength && contextLength > 0) out[contextLength - 1] = eotId;
  return out;
}
