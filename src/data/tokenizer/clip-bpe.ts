// CLIP's byte-level BPE (OpenAI SimpleTokenizer, which NVlabs GroupViT uses; HF CLIPTokenizer is the same scheme).
// Text is cleaned, split by CLIP's regex, each piece's UTF-8 bytes are mapped to printable stand-in characters,
// and merges are applied by rank; the last symbol of a word carries "</w>".
// Difference from the reference: ftfy.fix_text (mojibake repair) is not available in JS and is skipped, which only
// matters for badly-encoded input text.
import { gunzipSync } from 'node:zlib';
import { UserError } from '../../util/errors.js';
import { type Tokenizer, frame } from './types.js';

/** Both CLIP loaders keep only this many merge lines (49152 − 256 − 2), which makes a 49408-token vocabulary. */
const MAX_MERGES = 49152 - 256 - 2;
export const SOT_TOKEN = '<|startoftext|>';
export const EOT_TOKEN = '<|endoftext|>';

const PRETOKENIZE = /<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+/giu;

/**
 * GPT-2/CLIP's reversible byte → character table: printable Latin-1 bytes map to themselves, the rest to
 * U+0100 onwards, so every byte string becomes a string with no whitespace or control characters.
 */
export function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = 0x21; b <= 0x7e; b++) bs.push(b);
  for (let b = 0xa1; b <= 0xac; b++) bs.push(b);
  for (let b = 0xae; b <= 0xff; b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n++);
    }
  }
  const table = new Array<string>(256);
  bs.forEach((b, i) => (table[b] = String.fromCodePoint(cs[i])));
  return table;
}

const NAMED_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: '\u00a0' };

/** A subset of Python's html.unescape: numeric references and the common named ones (the full HTML5 table is not bundled). */
export function htmlUnescape(s: string): string {
  return s.replace(/&(#[0-9]+|#[xX][0-9a-fA-F]+|[a-zA-Z]+);?/g, (m, body: string) => {
    if (body[0] === '#') {
      const cp = body[1] === 'x' || body[1] === 'X' ? parseInt(body.slice(2), 16) : parseInt(body.slice(1), 10);
      if (!(cp > 0 && cp <= 0x10ffff) || (cp >= 0xd800 && cp <= 0xdfff)) return '\ufffd';
      return String.fromCodePoint(cp);
    }
    return Object.prototype.hasOwnProperty.call(NAMED_ENTITIES, body) ? NAMED_ENTITIES[body] : m;
  });
}

/** CLIP's basic_clean + whitespace_clean + lower(). */
export function cleanText(text: string): string {
  return htmlUnescape(htmlUnescape(text)).replace(/\s+/g, ' ').trim().toLowerCase();
}

export interface ClipBpeOptions {
  /** Sequence length; 77 for every released CLIP/GroupViT text encoder. */
  contextLength?: number;
  /** NVlabs pads with 0, HF with the end token; the causal encoder pools at the first EOT so both give the same result. */
  padId?: number;
  /** Id for a symbol missing from the vocabulary (only possible with a partial vocabulary); HF uses the end token. */
  unkId?: number;
}

export class ClipBpeTokenizer implements Tokenizer {
  readonly contextLength: number;
  readonly vocabSize: number;
  readonly sotId: number;
  readonly eotId: number;
  readonly padId: number;
  readonly unkId: number;
  private readonly ranks = new Map<string, number>();
  private readonly byteChars = bytesToUnicode();
  private readonly cache = new Map<string, string[]>();
  private readonly utf8 = new TextEncoder();

  constructor(
    private readonly encoder: Map<string, number>,
    merges: ReadonlyArray<readonly [string, string]>,
    opts: ClipBpeOptions = {},
  ) {
    // Symbols never contain a space (bytesToUnicode maps it away); a repeated pair keeps its last rank, as dict(zip())
    // does. Placeholder ['', ''] entries (malformed lines) only hold their rank slot.
    merges.forEach(([a, b], i) => {
      if (a && b) this.ranks.set(`${a} ${b}`, i);
    });
    const sot = encoder.get(SOT_TOKEN);
    const eot = encoder.get(EOT_TOKEN);
    if (sot === undefined || eot === undefined) throw new UserError(`The CLIP vocabulary has no ${SOT_TOKEN} or ${EOT_TOKEN} token.`);
    this.sotId = sot;
    this.eotId = eot;
    let maxId = -1;
    for (const id of encoder.values()) maxId = Math.max(maxId, id);
    this.vocabSize = Math.max(encoder.size, maxId + 1);
    this.contextLength = opts.contextLength ?? 77;
    this.padId = opts.padId ?? 0;
    this.unkId = opts.unkId ?? eot;
    // The special tokens are matched whole by the regex and must not be split into bytes.
    this.cache.set(SOT_TOKEN, [SOT_TOKEN]);
    this.cache.set(EOT_TOKEN, [EOT_TOKEN]);
  }

  /** HF layout: vocab.json ({token: id}) and merges.txt ("#version" header line, then "a b" per line). */
  static fromHf(vocabJson: string, mergesTxt: string, opts?: ClipBpeOptions): ClipBpeTokenizer {
    let vocab: unknown;
    try {
      vocab = JSON.parse(vocabJson);
    } catch {
      throw new UserError('vocab.json is not valid JSON.');
    }
    if (typeof vocab !== 'object' || vocab === null || Array.isArray(vocab)) throw new UserError('vocab.json is not a token-to-id object.');
    const encoder = new Map<string, number>();
    for (const [tok, id] of Object.entries(vocab)) {
      if (!Number.isSafeInteger(id) || (id as number) < 0) throw new UserError(`vocab.json gives token ${JSON.stringify(tok)} the invalid id ${String(id)}.`);
      encoder.set(tok, id as number);
    }
    return new ClipBpeTokenizer(encoder, parseMerges(mergesTxt.trim().split('\n').slice(1)), opts);
  }

  /** OpenAI layout: bpe_simple_vocab_16e6.txt.gz (header line, then merges); the vocabulary is derived from the merges. */
  static fromSimpleVocabGz(gz: Uint8Array, opts?: ClipBpeOptions): ClipBpeTokenizer {
    let text: string;
    try {
      text = new TextDecoder().decode(gunzipSync(gz));
    } catch {
      throw new UserError('The CLIP BPE merges file is not a valid gzip file.');
    }
    // Mirrors SimpleTokenizer exactly: every kept line adds its joined parts to the vocabulary (even a blank one),
    // after the byte symbols and byte symbols + "</w>" in dict order (= ascending code point); specials come last.
    const lines = text.split('\n').slice(1, 1 + MAX_MERGES).map((l) => l.split(/\s+/).filter((p) => p));
    const bytes = [...bytesToUnicode()].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!);
    const all = [...bytes, ...bytes.map((t) => `${t}</w>`), ...lines.map((parts) => parts.join('')), SOT_TOKEN, EOT_TOKEN];
    const merges = lines.map((parts) => (parts.length === 2 ? [parts[0], parts[1]] : ['', '']) as [string, string]);
    // a later duplicate keeps the later id, as dict(zip(vocab, range(len(vocab)))) does
    return new ClipBpeTokenizer(new Map(all.map((t, i) => [t, i])), merges, opts);
  }

  /** Applies merges to one pre-token (already byte-mapped), lowest rank first, as CLIP's bpe() does. */
  private bpe(token: string): string[] {
    const hit = this.cache.get(token);
    if (hit) return hit;
    const chars = [...token];
    let word = [...chars.slice(0, -1), `${chars[chars.length - 1]}</w>`];
    while (word.length > 1) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i < word.length - 1; i++) {
        const r = this.ranks.get(`${word[i]} ${word[i + 1]}`);
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) break;
      const first = word[best];
      const second = word[best + 1];
      // Merge every non-overlapping occurrence of the pair, scanning left to right.
      const next: string[] = [];
      for (let i = 0; i < word.length; ) {
        if (word[i] === first && i < word.length - 1 && word[i + 1] === second) {
          next.push(first + second);
          i += 2;
        } else {
          next.push(word[i++]);
        }
      }
      word = next;
    }
    if (this.cache.size < 100_000) this.cache.set(token, word);
    return word;
  }

  /** The BPE ids of a text, without start/end tokens or padding. */
  tokenize(text: string): number[] {
    const ids: number[] = [];
    for (const m of cleanText(text).matchAll(PRETOKENIZE)) {
      let mapped = '';
      for (const b of this.utf8.encode(m[0])) mapped += this.byteChars[b];
      const special = m[0] === SOT_TOKEN || m[0] === EOT_TOKEN;
      for (const sym of this.bpe(special ? m[0] : mapped)) ids.push(this.encoder.get(sym) ?? this.unkId);
    }
    return ids;
  }

  encode(text: string): Int32Array {
    return frame(this.tokenize(text), this.sotId, this.eotId, this.contextLength, this.padId);
  }
}

/** merges.txt lines after the header, "a b" each; malformed lines keep their rank slot but never match. */
function parseMerges(lines: string[]): Array<[string, string]> {
  return lines.slice(0, MAX_MERGES).map((line) => {
    const parts = line.trim().split(/\s+/);
    return parts.length === 2 ? [parts[0], parts[1]] : ['', ''];
  });
}
