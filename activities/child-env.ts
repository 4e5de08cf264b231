/**
 * What a child process of the worker inherits: only what it needs to run. The worker's own
 * environment can hold the database password variable and the storage credentials; a backup tool,
 * zstd or the server must never see them (they would be readable in /proc/<pid>/environ).
 */
const PASSED_THROUGH = ['PATH', 'HOME', 'LANG', 'LC_ALL', 'LC_CTYPE', 'TZ', 'TMPDIR', 'USER', 'LOGNAME'];

export function childEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const name of PASSED_THROUGH) {
    const value = process.env[name];
    if (value !== undefined) env[name] = value;
  }
  return { ...env, ...extra };
}

/** execa options that replace the child's environment instead of extending the worker's. */
export function childProcessOptions(): { env: Record<string, string>; extendEnv: false } {
  return { env: childEnv(), extendEnv: false };
}
