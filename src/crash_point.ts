/**
 * Test-only fault injection. When the environment variable `ARCA_TEST_CRASH_AT` names a
 * point, the process kills itself there with SIGKILL, exactly as `kill -9` would. The
 * interruption tests use it to prove that a backup or prune killed at that moment leaves
 * every earlier snapshot intact and the repository valid for arca and restic. Without the
 * variable it does nothing.
 */
export function crashPoint(name: string): void {
  if (process.env.ARCA_TEST_CRASH_AT === name) process.kill(process.pid, 'SIGKILL');
}
