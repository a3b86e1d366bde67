/**
 * The one clean-up mechanism of the suite: a test registers what it opened with {@link defer},
 * and `test/support/setup.ts` runs it after each test (last registered, first run), in every
 * test file. A failing clean-up does not keep the others from running; the first failure is
 * rethrown.
 */

const pending: (() => unknown)[] = [];

/** Runs `cleanup` after the current test. */
export function defer(cleanup: () => unknown): void {
  pending.push(cleanup);
}

/** The type of {@link defer}, for helpers that take it. */
export type Defer = typeof defer;

/** Runs and forgets what {@link defer} registered (the setup file calls it after each test). */
export async function runCleanup(): Promise<void> {
  const failures: unknown[] = [];
  for (const cleanup of pending.splice(0).reverse()) {
    try {
      await cleanup();
    } catch (error) {
      failures.push(error);
    }
  }
  if (failures.length > 0) throw failures[0];
}
