/**
 * Retention and deletion with the chain as the unit (the Percona document's chain rules 5 and 6):
 * a chain is kept or removed whole; the base of a chain may be deleted, taking its increments with
 * it; the last increment may be deleted alone; a middle increment never.
 */
import { isCommitted, orderChain, type CommittedBackup, type Decision, type StoredBackup } from './chain.js';
import { PIN_OBJECT } from './layout.js';
import { backupsOf, belongsTo, owningCluster } from './ownership.js';
import { chainLockedUntil, type LockWait } from './object-lock.js';

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
  const committed = backupsOf(backups, cluster).filter(isCommitted);
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

/** The pinned backups of a chain (a pin keeps the whole chain up to it, so the whole chain stays). */
export function pinnedMembers(chain: Chain): CommittedBackup[] {
  return [chain.base, ...chain.increments].filter((backup) => backup.pinned !== undefined);
}

export interface RetentionPlan {
  /** Newest first, as committedChains orders them. */
  chains: Chain[];
  expired: Chain[];
  /** Chains the rules would remove but a pin keeps. */
  pinned: Chain[];
  leftAlone: UntouchableChain[];
  orphans: StoredBackup[];
  /** Chains the rules would remove, and orphan folders, that the storage's Object Lock keeps a while yet. */
  locked: LockWait[];
}

/**
 * What retention removes now: expired chains none of whose members is unreadable, and proven
 * orphans; with Object Lock (`objectLockDays`), only what its lock no longer keeps.
 */
export function planRetention(backups: StoredBackup[], cluster: string, policy: RetentionPolicy & { orphanAgeHours: number; objectLockDays?: number | undefined }, nowMs: number): RetentionPlan {
  const leftAlone = untouchableChains(backups, cluster);
  const untouchable = new Set(leftAlone.map((chain) => chain.base));
  const chains = committedChains(backups, cluster);
  const due = expiredChains(chains, policy, nowMs).filter((chain) => !untouchable.has(chain.base.name));
  const pinned = due.filter((chain) => pinnedMembers(chain).length > 0);
  const days = policy.objectLockDays;
  const lockedUntil = (members: Pick<StoredBackup, 'objects'>[]) => (days === undefined ? 0 : chainLockedUntil(members, days));
  const unpinned = due.filter((chain) => !pinned.includes(chain));
  const orphans = orphanFolders(backups, cluster, policy.orphanAgeHours, nowMs);
  const locked = [
    ...unpinned.filter((chain) => lockedUntil([chain.base, ...chain.increments]) > nowMs).map((chain) => ({ base: chain.base.name, until: new Date(lockedUntil([chain.base, ...chain.increments])).toISOString() })),
    ...orphans.filter((orphan) => lockedUntil([orphan]) > nowMs).map((orphan) => ({ base: orphan.folder, until: new Date(lockedUntil([orphan])).toISOString() })),
  ];
  const waits = new Set(locked.map((wait) => wait.base));
  return {
    chains,
    expired: unpinned.filter((chain) => !waits.has(chain.base.name)),
    pinned,
    leftAlone,
    orphans: orphans.filter((orphan) => !waits.has(orphan.folder)),
    locked,
  };
}

export type DeletionPlan =
  /** The base and every increment of its chain; `members` newest first, the base last. */
  | { kind: 'chain'; base: CommittedBackup; members: CommittedBackup[] }
  /** The last increment of a chain, alone. */
  | { kind: 'increment'; backup: CommittedBackup };

export function chainDeletion(chain: Chain): Extract<DeletionPlan, { kind: 'chain' }> {
  return { kind: 'chain', base: chain.base, members: [...chain.increments].reverse().concat(chain.base) };
}

export function planDeletion(backups: StoredBackup[], cluster: string, name: string, storageLabel: string, lock?: { days: number; nowMs: number }): Decision<DeletionPlan> {
  const planned = planUnlockedDeletion(backups, cluster, name, storageLabel);
  if (!planned.ok || !lock) return planned;
  // Refused before anything is marked: the storage would refuse to remove what its lock keeps.
  const members = planned.value.kind === 'chain' ? planned.value.members : [planned.value.backup];
  const until = chainLockedUntil(members, lock.days);
  if (until <= lock.nowMs) return planned;
  return {
    ok: false,
    code: 'Locked',
    reason: `cannot delete ${name} yet: the storage's Object Lock keeps ${members.length === 1 ? 'it' : `its chain (${members.map((backup) => backup.name).join(', ')})`} until ${new Date(until).toISOString()}; nothing was changed, and retention removes it once the lock has ended if its rules still say so`,
  };
}

function planUnlockedDeletion(backups: StoredBackup[], cluster: string, name: string, storageLabel: string): Decision<DeletionPlan> {
  const target = backups.find((backup) => backup.name === name);
  if (!target || !isCommitted(target)) {
    return { ok: false, code: 'BackupNotFound', reason: `backup "${name}" is not a committed backup in ${storageLabel}${target ? ' (it has no manifest: uncommitted objects are removed by the orphan sweep)' : ''}` };
  }
  if (!belongsTo(target, cluster)) {
    return { ok: false, code: 'InvalidBaseBackup', reason: `backup "${name}" belongs to cluster "${owningCluster(name) ?? '?'}", not "${cluster}"` };
  }
  const broken = untouchableChains(backups, cluster).find((candidate) => candidate.base === target.manifest.base);
  if (broken) {
    return {
      ok: false,
      code: 'BrokenChain',
      reason: `chain ${broken.base} holds backups whose manifest cannot be read (${broken.reasons.join('; ')}); nothing of it is deleted automatically: inspect those folders and repair or remove them by hand first`,
    };
  }
  const chain = committedChains(backups, cluster).find((candidate) => candidate.base.name === target.manifest.base);
  const pinnedRefusal = (members: CommittedBackup[]): Decision<DeletionPlan> => ({
    ok: false,
    code: 'Pinned',
    reason: `cannot delete ${name}: ${members.map((backup) => `${backup.name} is pinned (since ${backup.pinned?.pinnedAt ?? '?'}${backup.pinned?.note ? `: ${backup.pinned.note}` : ''})`).join(', ')}; unpin it first (chainbackup unpin ${cluster} <backup>)`,
  });
  if (target.manifest.type === 'full' || !chain) {
    const whole = chain ?? { base: target, increments: [], newestAt: target.manifest.finishedAt, sizeBytes: target.manifest.sizeBytes };
    const pinned = pinnedMembers(whole);
    if (pinned.length > 0) return pinnedRefusal(pinned);
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
  if (target.pinned) return pinnedRefusal([target]);
  return { ok: true, value: { kind: 'increment', backup: target } };
}

/** A chain that retention and the sweep leave alone, and why. */
export interface UntouchableChain {
  base: string;
  reasons: string[];
}

/**
 * Chains of the cluster holding a backup whose manifest exists but cannot be used (unreadable,
 * unparsable, an unknown format version, or naming another folder). Nothing of such a chain is
 * removed, by retention or by the sweep: what is broken may be the only copy of that data, and
 * only a person can decide.
 */
export function untouchableChains(backups: StoredBackup[], cluster: string): UntouchableChain[] {
  const byBase = new Map<string, string[]>();
  for (const backup of backupsOf(backups, cluster)) {
    if (backup.manifestProblem === undefined) continue;
    byBase.set(backup.base, [...(byBase.get(backup.base) ?? []), `${backup.name}: ${backup.manifestProblem}`]);
  }
  return [...byBase].map(([base, reasons]) => ({ base, reasons })).sort((a, b) => a.base.localeCompare(b.base));
}

/**
 * Folders that only a failed or interrupted backup (or an interrupted deletion) can have left:
 * no manifest object at all (or hidden by their chain's deletion marker), no committed backup that
 * builds on them, and the newest object older than the orphan age. Increments come before their base.
 */
export function orphanFolders(backups: StoredBackup[], cluster: string, olderThanHours: number, nowMs: number): StoredBackup[] {
  const mine = backupsOf(backups, cluster);
  const untouchable = new Set(untouchableChains(backups, cluster).map((chain) => chain.base));
  // Anything a committed backup needs (its parent, its base) is never an orphan, whatever its state.
  const needed = new Set(mine.filter(isCommitted).flatMap((backup) => [backup.manifest.base, ...(backup.manifest.parent ? [backup.manifest.parent] : [])]));
  return mine
    // A pin in a folder without a manifest is a person's doing: left for a person.
    .filter((backup) => !isCommitted(backup) && backup.manifestProblem === undefined && !untouchable.has(backup.base) && !needed.has(backup.name) && !backup.objects.some((object) => object.key.endsWith(`/${PIN_OBJECT}`)))
    .filter((backup) => {
      const newest = Math.max(...backup.objects.map((object) => Date.parse(object.lastModified)));
      return nowMs - newest >= olderThanHours * 3_600_000;
    })
    .sort((a, b) => Number(a.name === a.base) - Number(b.name === b.base));
}
