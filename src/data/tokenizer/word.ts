// The groupvit-tiny fixture's made-up word-level tokenizer (no CLIP vocabulary ships with it): each lower-cased,
// whitespace-separated word hashes to id 1 + crc32(utf8(word)) % (vocabSize - 3), which keeps 0 for padding and
// leaves the top two ids for the start/end tokens. Split 'punctuation' (this project's generated-world models) also
// cuts punctuation off words, each mark its own word: with whitespace alone "star." (every prompt's last word), "star,"
// and "star" are three unrelated ids, and the captions teach nothing about the prompts' nouns.
import { UserError } from '../../util/errors.js';
import { crc32 } from '../../util/crc32.js';
import { type Tokenizer, frame } from './types.js';

export interface WordTokenizerOptions {
  vocabSize: number;
  sotId: number;
  eotId: number;
  contextLength: number;
  padId?: number;
  split?: 'whitespace' | 'punctuation';
}

export class WordTokenizer implements Tokenizer {
  readonly vocabSize: number;
  readonly sotId: number;
  readonly eotId: number;
  readonly contextLength: number;
  readonly padId: number;
  readonly split: 'whitespace' | 'punctuation';
  private readonly utf8 = new TextEncoder();

  constructor(o: WordTokenizerOptions) {
    if (!(o.vocabSize > 3) || !(o.contextLength >= 2)) {
      throw new UserError(`The word tokenizer needs a vocabulary of more than 3 ids and a context of at least 2 (got ${o.vocabSize} and ${o.contextLength}).`);
    }
    this.vocabSize = o.vocabSize;
    this.sotId = o.sotId;
    this.eotId = o.eotId;
    this.contextLength = o.contextLength;
    this.padId = o.padId ?? 0;
    this.split = o.split ?? 'whitespace';
  }

  wordId(word: string): number {
    return 1 + (crc32(this.utf8.encode(word)) % (this.vocabSize - 3));
  }

  encode(text: string): Int32Array {
    // Python's str.split(): runs of whitespace separate words and empty pieces are dropped
    const lower = text.toLowerCase();
    const words = this.split === 'punctuation' ? (lower.match(/[\p{L}\p{N}]+|[^\s\p{L}\p{N}]/gu) ?? []) : lower.split(/\s+/).filter((w) => w.length > 0);
    return frame(words.map((w) => this.wordId(w)), this.sotId, this.eotId, this.contextLength, this.padId);
  }
}
