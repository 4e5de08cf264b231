/**
 * Retention and deletion with the chain as the unit (the Percona document's chain rules 5 and 6):
 * a chain is kept or removed whole; the base of a chain may be deleted, taking its increments with
 * it; the last increment may be deleted alone; a middle increment never.
 */
import { isCommitted, orderChain, type CommittedBackup, type Decision, type StoredBackup } from './chain.js';
import { parseBackupName } from './names.js';

export interface Chain {
  base: CommittedBackup;
  /** In order from the base. */
  increments: CommittedBackup[];
  /** When the chain's newest backup finished: the chain's age. */
  newestAt: string;
  sizeBytes: number;
}

/** The cluster's committed chains, newest first. */
export function committedChains(backups: StoredBackup[], cluster: string): Chain[] {
  const committed = backups.filter(isCommitted).filter((backup) => backup.manifest.cluster === cluster);
  return committed
    .filter((backup) => backup.manifest.type === 'full')
    .map((base) => {
      const ordered = orderChain(backups, base.name);
      // A broken chain (a fork, a lost link) still goes as a whole: every increment on this base.
      const increments = ordered.ok ? ordered.value : committed.filter((backup) => backup.manifest.type === 'incremental' && backup.manifest.base === base.name);
      const members = [base, ...increments];
      return {
        base,
        increments,
        newestAt: members.map((member) => member.manifest.finishedAt).sort().at(-1) ?? base.manifest.finishedAt,
        sizeBytes: members.reduce((sum, member) => sum + member.manifest.sizeBytes, 0),
      };
    })
    .sort((a, b) => b.base.manifest.finishedAt.localeCompare(a.base.manifest.finishedAt) || b.base.name.localeCompare(a.base.name));
}

export interface RetentionPolicy {
  keepChains?: number | undefined;
  maxAgeDays?: number | undefined;
}

/**
 * The chains retention removes. A chain goes only when every configured rule lets it go; the newest
 * chain always stays (the next increment continues it); no rule configured removes nothing.
 */
export function expiredChains(chains: Chain[], policy: RetentionPolicy, nowMs: number): Chain[] {
  if (policy.keepChains === undefined && policy.maxAgeDays === undefined) return [];
  return chains.filter((chain, index) => {
    if (index === 0) return false;
    const keptByCount = policy.keepChains !== undefined && index < policy.keepChains;
    const keptByAge = policy.maxAgeDays !== undefined && nowMs - Date.parse(chain.newestAt) < policy.maxAgeDays * 86_400_000;
    return !keptByCount && !keptByAge;
  });
}

export type DeletionPlan =
  /** The base and every increment of its chain; `members` newest first, the base last. */
  | { kind: 'chain'; base: CommittedBackup; members: CommittedBackup[] }
  /** The last increment of a chain, alone. */
  | { kind: 'increment'; backup: CommittedBackup };

export function chainDeletion(chain: Chain): Extract<DeletionPlan, { kind: 'chain' }> {
  return { kind: 'chain', base: chain.base, members: [...chain.increments].reverse().concat(chain.base) };
}

export function planDeletion(backups: StoredBackup[], cluster: string, name: string, storageLabel: string): Decision<DeletionPlan> {
  const target = backups.find((backup) => backup.name === name);
  if (!target || !isCommitted(target)) {
    return { ok: false, code: 'BackupNotFound', reason: `backup "${name}" is not a committed backup in ${storageLabel}${target ? ' (it has no manifest: uncommitted objects are removed by the orphan sweep)' : ''}` };
  }
  if (target.manifest.cluster !== cluster) {
    return { ok: false, code: 'InvalidBaseBackup', reason: `backup "${name}" belongs to cluster "${target.manifest.cluster}", not "${cluster}"` };
  }
  const chain = committedChains(backups, cluster).find((candidate) => candidate.base.name === target.manifest.base);
  if (target.manifest.type === 'full' || !chain) {
    const whole = chain ?? { base: target, increments: [], newestAt: target.manifest.finishedAt, sizeBytes: target.manifest.sizeBytes };
    return { ok: true, value: chainDeletion(whole) };
  }
  const position = chain.increments.findIndex((increment) => increment.name === name);
  const dependants = chain.increments.slice(position + 1);
  if (dependants.length > 0) {
    return {
      ok: false,
      code: 'BrokenChain',
      reason: `cannot delete ${name}: it is in the middle of chain ${chain.base.name}, and ${dependants.map((backup) => backup.name).join(', ')} depend${dependants.length === 1 ? 's' : ''} on it; delete the later increments first (newest first), or delete ${chain.base.name} to remove the whole chain`,
    };
  }
  return { ok: true, value: { kind: 'increment', backup: target } };
}

/** Uncommitted folders of the cluster whose newest object is older than the given age, increments before their base. */
export function orphanFolders(backups: StoredBackup[], cluster: string, olderThanHours: number, nowMs: number): StoredBackup[] {
  return backups
    .filter((backup) => !isCommitted(backup) && parseBackupName(backup.name)?.cluster === cluster)
    .filter((backup) => {
      const newest = Math.max(...backup.objects.map((object) => Date.parse(object.lastModified)));
      return nowMs - newest >= olderThanHours * 3_600_000;
    })
    .sort((a, b) => Number(a.name === a.base) - Number(b.name === b.base));
}
