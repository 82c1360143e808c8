import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ShapesDataset } from '../../src/data/shapes/dataset.js';
import { captionScene, pluralShape } from '../../src/data/shapes/captions.js';
import { extractNouns } from '../../src/data/shapes/nouns.js';
import type { Backdrop, SceneObject } from '../../src/data/shapes/scene.js';
import { COLOUR_NAMES, SHAPES, classIndex, type ColourName, type ShapeName } from '../../src/data/shapes/world.js';
import { makePrompts, promptsForCaption, promptWords } from '../../src/data/prompts.js';
import { FULL_IMAGENET_TEMPLATES, SIMPLE_IMAGENET_TEMPLATES, SUBSET_IMAGENET_TEMPLATES, fillTemplate } from '../../src/data/templates.js';
import { Random } from '../../src/util/random.js';

function obj(shape: ShapeName, colour: ColourName, cx: number, cy: number): SceneObject {
  return { shape, colour, classIndex: classIndex(shape), cx, cy, radius: 10, angle: 0, rgb: [0, 0, 0] };
}
const flat: Backdrop = { kind: 'flat', colourName: 'grey', colours: [[150, 150, 150], [150, 150, 150]], angle: 0, period: 8 };

test('templates are CLIP/GroupViT sets: 80 full, 7 subset, 1 simple, each with one slot', () => {
  assert.equal(FULL_IMAGENET_TEMPLATES.length, 80);
  assert.equal(new Set(FULL_IMAGENET_TEMPLATES).size, 80);
  assert.equal(SUBSET_IMAGENET_TEMPLATES.length, 7);
  assert.deepEqual(SIMPLE_IMAGENET_TEMPLATES, ['a photo of a {}.']);
  for (const t of [...FULL_IMAGENET_TEMPLATES, ...SUBSET_IMAGENET_TEMPLATES]) assert.equal(t.split('{}').length, 2, t);
  assert.equal(FULL_IMAGENET_TEMPLATES[0], 'a bad photo of a {}.');
  assert.equal(FULL_IMAGENET_TEMPLATES[79], 'a tattoo of the {}.');
  assert.equal(fillTemplate('a photo of a {}.', 'star'), 'a photo of a star.');
});

test('captions name every object with its colour, with counts for repeats', () => {
  for (let seed = 0; seed < 50; seed++) {
    const objects = [obj('star', 'red', 10, 30), obj('circle', 'blue', 50, 30), obj('cross', 'orange', 30, 55)];
    const c = captionScene(objects, flat, 64, 64, new Random(seed));
    assert.match(c, /\bred star\b/);
    assert.match(c, /\bblue circle\b/);
    assert.match(c, /\ban orange cross\b/);
  }
  const twins = captionScene([obj('cross', 'green', 10, 10), obj('cross', 'green', 50, 50)], flat, 64, 64, new Random(1));
  assert.match(twins, /two green crosses/);
  assert.equal(pluralShape('cross'), 'crosses');
  assert.equal(pluralShape('moon'), 'moons');
});

test('relations and positions in captions are true to the layout', () => {
  const left = obj('star', 'red', 8, 32);
  const right = obj('heart', 'yellow', 56, 32);
  for (let seed = 0; seed < 200; seed++) {
    const c = captionScene([left, right], flat, 64, 64, new Random(seed), { backdropChance: 0 });
    assert.doesNotMatch(c, /red star to the right of/);
    assert.doesNotMatch(c, /yellow heart to the left of/);
    assert.doesNotMatch(c, /red star on the right/);
    assert.doesNotMatch(c, /yellow heart on the left/);
  }
});

test('captions vary: many distinct sentence shapes over a dataset', () => {
  const ds = new ShapesDataset({ seed: 4, split: 'train' });
  const shapes = new Set<string>();
  for (let i = 0; i < 300; i++) {
    // Abstract the sentence: objects become X, so only the template and order remain.
    shapes.add(ds.sample(i).caption.replace(/\b(a|an|two|three) \w+ \w+/g, 'X'));
  }
  assert.ok(shapes.size >= 40, `only ${shapes.size} caption shapes`);
});

test('noun extraction: shapes (singular), backdrop words; no colours, verbs, positions or framing words', () => {
  const nouns = (c: string): string[] => extractNouns(c).map((n) => n.noun);
  const phrases = (c: string): string[] => extractNouns(c).map((n) => n.phrase);
  assert.deepEqual(nouns('a red star and a blue circle'), ['star', 'circle']);
  assert.deepEqual(phrases('a red star and a blue circle'), ['red star', 'blue circle']);
  assert.deepEqual(nouns('there is a yellow heart next to a green ring'), ['heart', 'ring']);
  assert.deepEqual(phrases('a purple moon on a striped background'), ['purple moon', 'striped background']);
  assert.deepEqual(nouns('two orange crosses in the top left corner'), ['cross']);
  assert.deepEqual(phrases('two orange crosses in the top left corner'), ['orange cross']);
  assert.deepEqual(nouns('an image of a red square to the right of a red triangle'), ['square', 'triangle']);
  assert.deepEqual(phrases('a blue ring over a plain slate backdrop'), ['blue ring', 'plain slate backdrop']);
  assert.deepEqual(nouns('a green star on stripes'), ['star', 'stripes']);
  // The same noun with two colours is two phrases but one noun.
  const rs = extractNouns('a red star next to a blue star');
  assert.deepEqual(rs.map((n) => n.phrase), ['red star', 'blue star']);
  assert.deepEqual(promptWords(rs), ['star']);
  assert.deepEqual(promptWords(rs, true), ['red star', 'blue star']);
  // Captions from the wild: unknown words are taken as nouns, as NLTK tags most of them NN.
  assert.deepEqual(nouns('A dog is running on the beach with a frisbee.'), ['dog', 'running', 'beach', 'frisbee']);
  assert.deepEqual(nouns(''), []);
});

test('prompts: k sampled without replacement, templated, padded with the caption', () => {
  const caption = 'a red star and a blue circle on a striped background';
  const nouns = extractNouns(caption);
  for (let seed = 0; seed < 30; seed++) {
    const p = makePrompts(caption, nouns, new Random(seed));
    assert.equal(p.length, 3);
    const words = p.map((s) => ['star', 'circle', 'background'].find((w) => s.includes(w)));
    assert.equal(new Set(words).size, 3, `distinct nouns: ${p.join(' | ')}`);
    for (const s of p) {
      assert.ok(FULL_IMAGENET_TEMPLATES.some((t) => ['star', 'circle', 'background'].some((w) => fillTemplate(t, w) === s)), s);
    }
  }
  const one = 'just a purple moon';
  const p1 = makePrompts(one, extractNouns(one), new Random(3), { templates: 'simple' });
  assert.deepEqual(p1, ['a photo of a moon.', one, one]);
  const coloured = makePrompts(one, extractNouns(one), new Random(3), { templates: 'simple', withModifiers: true, k: 2 });
  assert.deepEqual(coloured, ['a photo of a purple moon.', one]);
  const none = promptsForCaption('', new Random(1));
  assert.deepEqual(none.prompts, ['', '', '']);
  // Deterministic in the generator.
  assert.deepEqual(makePrompts(caption, nouns, new Random(9)), makePrompts(caption, nouns, new Random(9)));
  // Templates are drawn from the whole set over many draws.
  const used = new Set<string>();
  const rng = new Random(5);
  for (let i = 0; i < 400; i++) used.add(makePrompts(one, extractNouns(one), rng, { k: 1 })[0]);
  assert.ok(used.size > 60, `${used.size} templates used`);
});

test('dataset samples carry nouns and prompts built from their caption', () => {
  const ds = new ShapesDataset({ seed: 5, split: 'train', prompts: { withModifiers: true } });
  for (let i = 0; i < 50; i++) {
    const s = ds.sample(i);
    assert.equal(s.prompts.length, 3);
    for (const o of s.objects.filter((x) => x.visiblePixels >= 4)) {
      assert.ok(s.nouns.some((n) => n.noun === o.shape && n.phrase.endsWith(`${o.colour} ${o.shape}`)), `${s.caption} lacks ${o.colour} ${o.shape}`);
    }
    for (const p of s.prompts) assert.ok(p === s.caption || s.nouns.some((n) => p.includes(n.phrase)), p);
  }
});

test('colourDrop: captions name the shapes without colours; counts regroup by shape', () => {
  const d = new ShapesDataset({ seed: 4, split: 'train', caption: { colourDrop: 1 } });
  for (let i = 0; i < 40; i++) {
    const s = d.sample(i);
    for (const c of COLOUR_NAMES) assert.ok(!new RegExp(`\\b${c}\\b`).test(s.caption), `${s.caption} names ${c}`);
    const visible = new Set(s.objects.filter((o) => o.visiblePixels >= 4).map((o) => o.shape));
    for (const shape of visible) assert.ok(s.caption.includes(shape.slice(0, 4)), `${s.caption} misses ${shape}`);
    assert.ok(SHAPES.some((sh) => s.caption.includes(sh.slice(0, 4))));
  }
});

test('colourDrop: colourNouns name every visible object with its own colour, the caption and the pixels as without them', () => {
  const dropped = new ShapesDataset({ seed: 4, split: 'train', caption: { colourDrop: 1 } });
  const kept = new ShapesDataset({ seed: 4, split: 'train' });
  for (let i = 0; i < 40; i++) {
    const s = dropped.sample(i);
    const visible = s.objects.filter((o) => o.visiblePixels >= 4);
    for (const o of visible) assert.ok(s.colourNouns.some((n) => n.noun === o.shape && n.phrase === `${o.colour} ${o.shape}`), `${i}: no ${o.colour} ${o.shape} in ${JSON.stringify(s.colourNouns)}`);
    // no phrase names an object the scene does not hold
    for (const n of s.colourNouns.filter((x) => (SHAPES as readonly string[]).includes(x.noun))) {
      assert.ok(visible.some((o) => n.phrase === `${o.colour} ${o.shape}`), `${i}: ${n.phrase} is not in the scene`);
    }
    assert.deepEqual(s.image.data, kept.sample(i).image.data);
    const k = kept.sample(i);
    assert.equal(k.colourNouns, k.nouns, 'a caption that kept its colours is its own colour caption');
  }
});
