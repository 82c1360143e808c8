/** An error a user can cause (bad input, missing file, no adapter): the CLI prints its one sentence and exits non-zero. */
export class UserError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UserError';
  }
}

/** The GPU device was lost mid-run (driver reset, out of memory at the driver level). */
export class DeviceLostError extends UserError {
  constructor(reason: string) {
    super(`The GPU device was lost (${reason}); nothing after the last checkpoint was saved, rerun to continue.`);
    this.name = 'DeviceLostError';
  }
}
