/**
 * One `bash` fed commands as an operator pastes them into a terminal: the blocks of a document in
 * order, in one session, so that their shell variables carry from one block to the next.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export interface DocumentBlock {
  /** The words after "```sh", e.g. ["by-hand", "s3"]. */
  tags: string[];
  text: string;
}

/** The fenced `sh` blocks of a Markdown text whose info string starts with `sh <marker>`, in order. */
export function shellBlocks(markdown: string, marker: string): DocumentBlock[] {
  const blocks: DocumentBlock[] = [];
  for (const match of markdown.matchAll(/^```sh ([^\n]*)\n([\s\S]*?)^```$/gm)) {
    const tags = (match[1] ?? '').trim().split(/\s+/);
    if (tags[0] === marker) blocks.push({ tags, text: match[2] ?? '' });
  }
  return blocks;
}

export class ShellSession {
  private readonly shell: ChildProcessWithoutNullStreams;
  private stdout = '';
  private stderr = '';
  private exited: number | null | undefined;
  private readonly waiters = new Set<() => void>();

  constructor(env: Record<string, string>, cwd: string) {
    this.shell = spawn('bash', ['--noprofile', '--norc'], { env, cwd, stdio: 'pipe' });
    this.shell.stdout.on('data', (chunk: Buffer) => this.heard(() => (this.stdout += chunk.toString())));
    this.shell.stderr.on('data', (chunk: Buffer) => this.heard(() => (this.stderr += chunk.toString())));
    this.shell.on('exit', (code) => this.heard(() => (this.exited = code)));
  }

  private heard(record: () => void): void {
    record();
    for (const wake of this.waiters) wake();
  }

  /** Everything the session printed so far. */
  output(): { stdout: string; stderr: string } {
    return { stdout: this.stdout, stderr: this.stderr };
  }

  /** Types a block into the shell and waits until it ran; rejects, with what it printed, if the shell ended. */
  async run(text: string): Promise<void> {
    const marker = `__block_done_${randomBytes(4).toString('hex')}__`;
    this.shell.stdin.write(`${text}\necho ${marker}\n`);
    await new Promise<void>((resolve, reject) => {
      const check = () => {
        if (this.stdout.includes(marker)) {
          this.waiters.delete(check);
          resolve();
        } else if (this.exited !== undefined) {
          this.waiters.delete(check);
          reject(new Error(`the shell ended (exit ${String(this.exited)}) in this block:\n${text}\nits last output:\n${this.stderr.split('\n').slice(-15).join('\n')}`));
        }
      };
      this.waiters.add(check);
      check();
    });
  }

  async close(): Promise<void> {
    if (this.exited !== undefined) return;
    const ended = new Promise<void>((resolve) => this.shell.once('exit', () => resolve()));
    this.shell.stdin.end();
    await ended;
  }
}
