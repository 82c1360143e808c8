// Reading a user-named file, turning each way it can fail into one sentence the CLI can print.
import { readFileSync } from 'node:fs';
import { UserError } from '../util/errors.js';

/** The file's bytes, or a UserError saying why they cannot be had. `what` starts the sentence ("Image", "Dataset"). */
export function readFileBytes(path: string, what = 'File'): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    throw fileError(e, path, what);
  }
}

/** The UserError for a failed fs call on `path`. */
export function fileError(e: unknown, path: string, what = 'File'): UserError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new UserError(`${what} ${path} does not exist.`);
  if (code === 'EISDIR') return new UserError(`${what} ${path} is a directory, not a file.`);
  if (code === 'ENOTDIR') return new UserError(`${what} ${path} is not a directory.`);
  if (code === 'EACCES' || code === 'EPERM') return new UserError(`${what} ${path} cannot be read: permission denied.`);
  return new UserError(`${what} ${path} cannot be read (${code ?? (e as Error).message}).`);
}
