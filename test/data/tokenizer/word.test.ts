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
