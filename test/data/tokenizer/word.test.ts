// The fixture's word-level tokenizer must reproduce the ids the reference run fed to the model.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { WordTokenizer } from '../../../src/data/tokenizer/word.js';
import { loadTokenizer } from '../../../src/data/tokenizer/index.js';
import { fixturePath } from '../../io/fixtures.js';

interface FixtureText {
  text: { vocab_size: number; sot_id: number; eot_id: number; context_length: number; prompts: string[]; input_ids: number[][] };
  segmentation: { classes: string[]; templates: string[]; seg_class_input_ids: number[][][] };
}

const fixture = (): FixtureText => JSON.parse(readFileSync(fixturePath('fixture.json'), 'utf-8'));

test('prompts encode to fixture text.input_ids (including one truncated to the context)', () => {
  const f = fixture();
  const tok = new WordTokenizer({ vocabSize: f.text.vocab_size, sotId: f.text.sot_id, eotId: f.text.eot_id, contextLength: f.text.context_length });
  f.text.prompts.forEach((p, i) => assert.deepEqual([...tok.encode(p)], f.text.input_ids[i], p));
});

test('class prompts from the templates encode to segmentation.seg_class_input_ids', () => {
  const f = fixture();
  const config = JSON.parse(readFileSync(fixturePath('config.json'), 'utf-8'));
  const tok = loadTokenizer(fixturePath(), config); // no vocab files in the fixture: the word tokenizer
  assert.ok(tok instanceof WordTokenizer);
  assert.equal(tok.contextLength, 16);
  assert.equal(tok.sotId, 998);
  assert.equal(tok.eotId, 999);
  f.segmentation.classes.forEach((cls, k) => {
    f.segmentation.templates.forEach((tpl, t) => {
      const text = tpl.replaceAll('{}', cls);
      assert.deepEqual([...tok.encode(text)], f.segmentation.seg_class_input_ids[k][t], text);
    });
  });
});

test('truncation keeps the end token last and padding is zero', () => {
  const tok = new WordTokenizer({ vocabSize: 1000, sotId: 998, eotId: 999, contextLength: 4 });
  assert.deepEqual([...tok.encode('a b c d e')], [998, tok.wordId('a'), tok.wordId('b'), 999]);
  assert.deepEqual([...tok.encode('  ')], [998, 999, 0, 0]);
  assert.deepEqual([...tok.encode('A\tb')], [...tok.encode('a b')]);
});

test("split 'punctuation' cuts marks off words, so a prompt's last noun is the caption's noun", () => {
  const tok = new WordTokenizer({ vocabSize: 1000, sotId: 998, eotId: 999, contextLength: 12, split: 'punctuation' });
  const w = (x: string) => tok.wordId(x);
  assert.deepEqual([...tok.encode('A photo of a star.')], [998, w('a'), w('photo'), w('of'), w('a'), w('star'), w('.'), 999, 0, 0, 0, 0]);
  assert.deepEqual([...tok.encode('a ring, a cross')].slice(1, 6), [w('a'), w('ring'), w(','), w('a'), w('cross')]);
  // the fixture's whitespace split keeps them whole
  const plain = new WordTokenizer({ vocabSize: 1000, sotId: 998, eotId: 999, contextLength: 12 });
  assert.equal(plain.encode('a star.')[2], plain.wordId('star.'));
  // loadTokenizer reads the split from the config
  const t = loadTokenizer('/nonexistent', { text_config: { vocab_size: 1000, bos_token_id: 998, eos_token_id: 999, max_position_embeddings: 8, word_split: 'punctuation' } });
  assert.deepEqual([...t.encode('star.')].slice(1, 3), [w('star'), w('.')]);
});

test('the generated world: every word of its captions and prompts has its own id in the tiny vocabulary', async () => {
  const { TINY_VOCAB } = await import('../../../src/train/presets.js');
  const { ShapesDataset } = await import('../../../src/data/shapes/dataset.js');
  const { FULL_IMAGENET_TEMPLATES } = await import('../../../src/data/templates.js');
  const tok = new WordTokenizer({ vocabSize: TINY_VOCAB, sotId: TINY_VOCAB - 2, eotId: TINY_VOCAB - 1, contextLength: 24, split: 'punctuation' });
  const words = new Set<string>();
  const add = (text: string) => { for (const x of text.toLowerCase().match(/[\p{L}\p{N}]+|[^\s\p{L}\p{N}]/gu) ?? []) words.add(x); };
  const data = new ShapesDataset({ seed: 1, split: 'train', imageSize: 32, caption: { colourDrop: 0.5 } });
  for (let i = 0; i < 3000; i++) add(data.sample(i).caption);
  for (const t of FULL_IMAGENET_TEMPLATES) add(t.replace('{}', ''));
  const byId = new Map<number, string>();
  for (const x of words) {
    const id = tok.wordId(x);
    assert.ok(!byId.has(id), `"${x}" and "${byId.get(id)}" share id ${id}`);
    byId.set(id, x);
  }
  assert.ok(words.size > 100, `${words.size} words`);
});

test('text_config.word_split: absent stays absent; an unknown value is one sentence', async () => {
  const { parseConfig } = await import('../../../src/model/config.js');
  const { UserError } = await import('../../../src/util/errors.js');
  assert.equal(JSON.stringify(parseConfig({})).includes('word_split'), false);
  assert.equal(parseConfig({ text_config: { word_split: 'punctuation' } }).text_config.word_split, 'punctuation');
  assert.throws(
    () => parseConfig({ text_config: { word_split: 'words' } }, 'cfg.json'),
    (e: Error) => e instanceof UserError && /^cfg\.json: text_config\.word_split must be "whitespace" or "punctuation", not "words"\.$/.test(e.message),
  );
});
