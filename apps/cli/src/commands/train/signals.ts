import type { Reporter } from '../../progress.js';

export type StopSignal = 'SIGINT' | 'SIGTERM';

/** The signal that asked a run to stop, while the handlers are installed. */
export interface StopRequest {
  /** The first SIGINT (Ctrl-C) or SIGTERM received, if any. */
  readonly signal: StopSignal | undefined;
  /** Removes the handlers. */
  release(): void;
}

/**
 * Installs the stop handlers of a training run. The first Ctrl-C (SIGINT) or SIGTERM is only
 * recorded and noted: the run finishes its epoch, saves and stops (exit 130 or 143). A second
 * quits at once without saving.
 */
export function stopOnSignals(reporter: Pick<Reporter, 'note'>): StopRequest {
  let signal: StopSignal | undefined;
  const onSignal = (name: StopSignal) => {
    if (signal) process.exit(name === 'SIGTERM' ? 143 : 130);
    signal = name;
    reporter.note(
      `Interrupted (${name}): finishing this epoch, then saving a checkpoint (${name === 'SIGINT' ? 'Ctrl-C' : 'a second signal'} again quits without saving).`,
    );
  };
  const onSigint = () => onSignal('SIGINT');
  const onSigterm = () => onSignal('SIGTERM');
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);
  return {
    get signal() {
      return signal;
    },
    release() {
      process.off('SIGINT', onSigint);
      process.off('SIGTERM', onSigterm);
    },
  };
}
