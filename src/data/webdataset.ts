// Webdataset shards, the format GroupViT trained on: tar files whose members NAME.jpg (or .jpeg/.png) and NAME.txt
// form one sample. As in webdataset, a sample's key is the member path up to the first dot of its file name, and
// samples never span shards. A folder of shards is read in name order, so record order is reproducible.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { listTarMembers, readFileRange, type TarMember } from '../io/tar.js';
import { fileError } from '../io/read-file.js';
import { UserError } from '../util/errors.js';
import { SkipLog, type ImageTextIndex, type ImageTextRecord } from './records.js';

const IMAGE_EXTS = ['jpg', 'jpeg', 'png'];
const CAPTION_EXTS = ['txt'];

/** Splits "dir/abc.seg.jpg" into key "dir/abc" and extension "seg.jpg" (webdataset's rule). */
export function splitKey(name: string): { key: string; ext: string } {
  const slash = name.lastIndexOf('/');
  const dot = name.indexOf('.', slash + 1);
  if (dot < 0) return { key: name, ext: '' };
  return { key: name.slice(0, dot), ext: name.slice(dot + 1).toLowerCase() };
}

/** The .tar shards a path names: the file itself, or the folder's *.tar files sorted by name. */
export function findShards(path: string): string[] {
  let st;
  try {
    st = statSync(path);
  } catch (e) {
    throw fileError(e, path, 'Dataset');
  }
  if (st.isFile()) return [path];
  let names: string[];
  try {
    names = readdirSync(path);
  } catch (e) {
    throw fileError(e, path, 'Dataset folder');
  }
  return names
    .filter((n) => n.toLowerCase().endsWith('.tar'))
    .sort()
    .map((n) => join(path, n));
}

function indexShard(shard: string, records: ImageTextRecord[], skipped: SkipLog): void {
  let members: TarMember[];
  try {
    members = listTarMembers(shard);
  } catch (e) {
    // A damaged shard is one bad record source among many: count it and go on with the others.
    skipped.add(`unreadable shard (${(e as Error).message})`, shard);
    return;
  }
  // Group the shard's members by key, keeping first-appearance order.
  const groups = new Map<string, Map<string, TarMember>>();
  for (const m of members) {
    const { key, ext } = splitKey(m.name);
    if (!groups.has(key)) groups.set(key, new Map());
    groups.get(key)!.set(ext, m);
  }
  for (const [key, parts] of groups) {
    const where = `${shard}:${key}`;
    const imageExt = IMAGE_EXTS.find((e) => parts.has(e));
    const captionExt = CAPTION_EXTS.find((e) => parts.has(e));
    if (!imageExt) {
      skipped.add('no image', where);
      continue;
    }
    if (!captionExt) {
      skipped.add('no caption', where);
      continue;
    }
    const txt = parts.get(captionExt)!;
    const caption = Buffer.from(readFileRange(shard, txt.offset, txt.size)).toString('utf8').trim();
    if (caption === '') {
      skipped.add('empty caption', where);
      continue;
    }
    const img = parts.get(imageExt)!;
    records.push({ key: where, caption, file: shard, offset: img.offset, length: img.size });
  }
}

/** Indexes a shard or a folder of shards. */
export function openWebDataset(path: string): ImageTextIndex {
  const shards = findShards(path);
  if (shards.length === 0) throw new UserError(`Dataset folder ${path} holds neither captions.jsonl nor any .tar shards.`);
  const skipped = new SkipLog();
  const records: ImageTextRecord[] = [];
  for (const shard of shards) indexShard(shard, records, skipped);
  if (records.length === 0) {
    const why = skipped.total > 0 ? ` (${skipped.summary()})` : '';
    throw new UserError(`Dataset ${path} has no usable image–caption pairs${why}.`);
  }
  return { source: path, records, skipped };
}
