/** A problem the user can fix (a bad file, a corrupt checkpoint): printed as one line, exit code 1. */
export class RnnkitError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RnnkitError';
  }
}

/** A bad command line: printed as one line, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** How a user of the command passes a local text, for the data package's error messages. */
export const LOCAL_COPY_HINT = 'or pass --corpus FILE';
