/**
 * Keeps a long-running command alive until SIGINT/SIGTERM, then stops it once. A second
 * signal while stopping exits at once.
 */
export function runUntilSignal(stop: () => Promise<void>, onSignal?: (signal: string) => void): Promise<void> {
  return new Promise((resolve) => {
    let stopping = false;
    const handler = (signal: NodeJS.Signals): void => {
      if (stopping) process.exit(130);
      stopping = true;
      onSignal?.(signal);
      void stop().finally(() => {
        process.off('SIGINT', handler);
        process.off('SIGTERM', handler);
        resolve();
      });
    };
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
  });
}
