import { readFileSync } from 'node:fs';

/**
 * Whether a process with this pid still runs (one of another user's answers EPERM: it exists too).
 * A zombie does not: it has exited and only waits for its parent to collect it, which a frozen or
 * hung parent (a worker stopped mid-step) may never do; waiting for it to end would wait for ever.
 */
export function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  return !isZombie(pid);
}

function isZombie(pid: number): boolean {
  try {
    // "pid (command) state …": the command may hold spaces and parentheses, the state follows the last ")".
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false;
  }
}
