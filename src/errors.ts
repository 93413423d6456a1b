/**
 * A mistake the user can fix (bad flag, missing file, wrong corpus): the CLI prints its
 * message as one line and exits 1. Anything else that escapes is a bug and exits 2.
 */
export class UserError extends Error {
  override name = 'UserError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A feature that a later issue builds; exits 2 so scripts never mistake it for success. */
export class NotBuiltError extends Error {
  override name = 'NotBuiltError';
  constructor(command: string) {
    super(`\`poc ${command}\` is not built yet in this version`);
  }
}

export const EXIT_OK = 0;
export const EXIT_USER = 1;
export const EXIT_INTERNAL = 2;

/** The run was stopped by a signal (Ctrl-C): exit 130 like a shell, after cleaning up. */
export class InterruptedError extends Error {
  override name = 'InterruptedError';
}
export const EXIT_INTERRUPTED = 130;
