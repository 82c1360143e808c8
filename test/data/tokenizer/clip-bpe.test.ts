// CLIP BPE against OpenAI's SimpleTokenizer (ported to Python without ftfy, run on a tiny merges list; the expected
// ids below were produced by it), plus the HF file layout, unknown symbols, truncation and padding.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ClipBpeTokenizer, bytesToUnicode, cleanText, htmlUnescape } from '../../../src/data/tokenizer/clip-bpe.js';
import { loadTokenizer } from '../../../src/data/tokenizer/index.js';
import { UserError } from '../../../src/util/errors.js';

const MERGES: string = "#version: test\nt h\nth e</w>\na </w>\np h\nph o\npho t\nphot o</w>\no f</w>\nc a\nca t</w>\nd o\ndo g</w>\ni n\nin g</w>\ne r\nÃ ©\ns </w>\n' s</w>\nr e\na t\nh at</w>\nin g\ns in\nsin g</w>\na n\nan d</w>\n";
// [text, ids without start/end] from the Python reference
const CASES: Array<[string, number[]]> = [["a photo of a cat",[514,518,519,514,521]],
  ["A  Photo of the DOG!!",[514,518,519,513,523,0,256]],
  ["the cat's hat, and   the dog's   hat",[513,521,529,71,64,339,267,537,513,523,529,71,64,339]],
  ["café résumé 2024 &amp;amp; &lt;b&gt;",[520,69,127,358,81,527,82,84,76,127,358,273,271,273,275,261,283,321,285]],
  ["singing singer sings",[82,533,525,82,533,68,337,82,533,528]],
  ["<|endoftext|> x <|startoftext|>",[540,343,539]],
  ["emoji 🐱 ok?",[68,76,78,73,328,172,253,238,365,78,330,286]],
  ["  \t\n  ",[]],
  ["I'm sure they'll do; we'd've",[328,6,332,82,84,81,324,512,68,344,6,75,331,67,334,282,86,324,6,323,6,85,324]],
  ["ＦＵＬＬＷＩＤＴＨ ½ ①",[171,121,228,171,121,243,171,121,234,171,121,234,171,121,245,171,121,231,171,121,226,171,121,242,171,121,486,126,377,158,239,510]]];

const fromGz = (opts = {}) => ClipBpeTokenizer.fromSimpleVocabGz(gzipSync(Buffer.from(MERGES, 'utf-8')), opts);

/** The vocab.json SimpleTokenizer would have for these merges (a later duplicate token wins, as in dict()). */
function vocabJson(): string {
  const b = [...bytesToUnicode()].sort(); // dict order of bytes_to_unicode() = ascending code point
  const merges = MERGES.split('\n').slice(1).map((l) => l.split(' ').join('')); // the trailing blank line adds '' too
  const all = [...b, ...b.map((t) => `${t}</w>`), ...merges, '<|startoftext|>', '<|endoftext|>'];
  const v: Record<string, number> = {};
  all.forEach((t, i) => (v[t] = i));
  return JSON.stringify(v);
}

test('byte table matches GPT-2/CLIP', () => {
  const t = bytesToUnicode();
  assert.equal(t.length, 256);
  assert.equal(new Set(t).size, 256);
  assert.equal(t[0x41], 'A');
  assert.equal(t[0x20], 'Ġ');
  assert.equal(t[0x00], 'Ā');
  assert.equal(t[0xad], 'Ń'); // the 34th non-printable byte: U+0100 + 67
});

test('text cleaning unescapes twice, collapses whitespace and lower-cases', () => {
  assert.equal(cleanText('  A &amp;amp; B\t\n&lt;i&gt; &#39;x&#x27; '), "a & b <i> 'x'");
  assert.equal(htmlUnescape('&bogus; &#0; &#128049;'), '&bogus; \ufffd 🐱');
});

test('ids equal the Python SimpleTokenizer on merges, contractions, numbers, unicode and specials', () => {
  const tok = fromGz();
  assert.equal(tok.sotId, 539);
  assert.equal(tok.eotId, 540);
  for (const [text, ids] of CASES) assert.deepEqual(tok.tokenize(text), ids, JSON.stringify(text));
  const framed = tok.encode('a photo of a cat');
  assert.equal(framed.length, 77);
  assert.deepEqual([...framed.subarray(0, 8)], [539, 514, 518, 519, 514, 521, 540, 0]);
});

test('the HF layout (vocab.json + merges.txt) gives the same ids', () => {
  const tok = ClipBpeTokenizer.fromHf(vocabJson(), MERGES);
  for (const [text, ids] of CASES) assert.deepEqual(tok.tokenize(text), ids, JSON.stringify(text));
});

test('a symbol missing from a partial vocabulary becomes the unknown id; truncation keeps EOT last', () => {
  const vocab = { h: 1, i: 2, 'hi</w>': 3, 'h</w>': 4, 'i</w>': 5, '!</w>': 6, '<|startoftext|>': 7, '<|endoftext|>': 8 };
  const tok = ClipBpeTokenizer.fromHf(JSON.stringify(vocab), '#version: 0.2\nh i</w>\n', { contextLength: 8 });
  assert.deepEqual(tok.tokenize('hi hi! é'), [3, 3, 6, 8, 8]); // é is two bytes, neither in the vocabulary
  assert.deepEqual([...tok.encode('hi hi! é')], [7, 3, 3, 6, 8, 8, 8, 0]);
  const short = ClipBpeTokenizer.fromHf(JSON.stringify(vocab), '#version: 0.2\nh i</w>\n', { contextLength: 4, padId: 8, unkId: 0 });
  assert.deepEqual([...short.encode('hi hi! é')], [7, 3, 3, 8]);
  assert.deepEqual([...short.encode('hi')], [7, 3, 8, 8]); // HF-style padding with the end token
  assert.deepEqual(short.tokenize('é'), [0, 0]);
  assert.throws(() => ClipBpeTokenizer.fromHf('{"a": 1}', ''), UserError); // no special tokens
  assert.throws(() => ClipBpeTokenizer.fromHf('not json', ''), UserError);
  assert.throws(() => ClipBpeTokenizer.fromSimpleVocabGz(new Uint8Array([1, 2, 3])), UserError);
});

test('loadTokenizer picks CLIP BPE when vocabulary files exist, with the config context length', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tok-'));
  try {
    const config = { text_config: { vocab_size: 541, max_position_embeddings: 12, bos_token_id: 0, eos_token_id: 2 } };
    writeFileSync(join(dir, 'bpe_simple_vocab_16e6.txt.gz'), gzipSync(Buffer.from(MERGES)));
    const gz = loadTokenizer(dir, config);
    assert.ok(gz instanceof ClipBpeTokenizer);
    assert.equal(gz.contextLength, 12);
    assert.equal(gz.eotId, 540); // from the vocabulary, not the legacy config ids
    writeFileSync(join(dir, 'vocab.json'), vocabJson());
    writeFileSync(join(dir, 'merges.txt'), MERGES);
    const hf = loadTokenizer(dir, config);
    assert.deepEqual([...hf.encode('the dog')], [539, 513, 523, 540, 0, 0, 0, 0, 0, 0, 0, 0]);
    assert.throws(() => loadTokenizer(join(dir, 'none'), {}), UserError);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
