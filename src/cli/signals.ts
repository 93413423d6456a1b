/**
 * Runs `fn` with an AbortSignal that the first Ctrl-C (or SIGTERM) aborts, so long jobs stop
 * at a safe point and clean up; a second Ctrl-C exits at once (partial files carry a
 * temporary name and are never mistaken for finished ones).
 */
export async function withInterruptSignal<T>(fn: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (controller.signal.aborted) process.exit(sig === 'SIGINT' ? 130 : 143);
    process.stderr.write(`\npoc: ${sig} received, stopping at the next safe point (press Ctrl-C again to quit now)\n`);
    controller.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await fn(controller.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
