// What both user-data formats produce: an index of image–caption records that is plain data (so worker threads can
// receive it and decode records ahead of the GPU), and a tally of the records that had to be skipped.
import { decodeImage, type RgbImage } from '../io/image.js';
import { readFileBytes } from '../io/read-file.js';
import { readFileRange } from '../io/tar.js';
import { UserError } from '../util/errors.js';

export interface ImageTextRecord {
  /** A stable name for messages: "shard-000.tar:sample42" or the image path. */
  key: string;
  caption: string;
  /** Where the encoded image bytes are: a whole file (length -1) or a byte range of a tar shard. */
  file: string;
  offset: number;
  length: number;
}

/** Counts of skipped records by reason, with a few examples so a warning can say which ones. */
export class SkipLog {
  readonly counts: Record<string, number> = {};
  readonly examples: string[] = [];
  total = 0;

  constructor(private readonly maxExamples = 5) {}

  add(reason: string, key: string): void {
    this.counts[reason] = (this.counts[reason] ?? 0) + 1;
    this.total++;
    if (this.examples.length < this.maxExamples) this.examples.push(`${key}: ${reason}`);
  }

  /** One line for the warning printed at the start of training, or '' when nothing was skipped. */
  summary(): string {
    if (this.total === 0) return '';
    const parts = Object.entries(this.counts).map(([r, n]) => `${n} ${r}`);
    return `skipped ${this.total} record${this.total === 1 ? '' : 's'} (${parts.join(', ')}); e.g. ${this.examples[0]}`;
  }
}

/** Decodes a record's image; any failure is a UserError naming the record (callers skip and count it). */
export function loadRecordImage(rec: ImageTextRecord): RgbImage {
  let bytes: Uint8Array;
  if (rec.length < 0) bytes = readFileBytes(rec.file, 'Image');
  else {
    try {
      bytes = readFileRange(rec.file, rec.offset, rec.length);
    } catch (e) {
      throw new UserError(`Cannot read ${rec.key}: ${(e as Error).message}.`);
    }
  }
  return decodeImage(bytes, rec.key);
}

/** An opened dataset: the usable records and what was skipped while indexing. */
export interface ImageTextIndex {
  /** What the user pointed at, for messages. */
  source: string;
  records: ImageTextRecord[];
  skipped: SkipLog;
}

/** Loads record i's image, or null (counted in `skipped`) when it cannot be decoded: training goes on without it. */
export function tryLoadRecord(rec: ImageTextRecord, skipped: SkipLog): RgbImage | null {
  try {
    return loadRecordImage(rec);
  } catch (e) {
    if (!(e instanceof UserError)) throw e;
    skipped.add('unreadable image', rec.key);
    return null;
  }
}
