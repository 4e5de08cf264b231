/**
 * The global privileges the backup user of a MariaDB cluster needs, each with what it is for: the
 * README's grants, the sandbox's user and `chainbackup check` all read this one list.
 */
export interface RequiredGrant {
  privilege: string;
  for: string;
}

export const MARIADB_GRANTS: readonly (RequiredGrant & { onlyWhen?: 'streamed-binlog' })[] = [
  { privilege: 'RELOAD', for: 'backups' },
  { privilege: 'PROCESS', for: 'backups' },
  { privilege: 'LOCK TABLES', for: 'backups' },
  { privilege: 'BINLOG MONITOR', for: 'backups and the binlog archive' },
  { privilege: 'SELECT', for: 'the inventory of tables a verification compares' },
  { privilege: 'BINLOG ADMIN', for: "in-place restores (the restored server's binlog and GTID state)" },
  { privilege: 'REPLICATION MASTER ADMIN', for: "in-place restores (the restored server's binlog and GTID state)" },
  { privilege: 'REPLICATION SLAVE ADMIN', for: "in-place restores (the restored server's binlog and GTID state)" },
  { privilege: 'REPLICATION SLAVE', for: 'a streamed binlog archive (binlogs.rpo) and a server that encrypts its binlog', onlyWhen: 'streamed-binlog' },
];

/** The grants as one GRANT statement's list (the sandbox and the README use every one). */
export const MARIADB_GRANT_LIST = MARIADB_GRANTS.map((grant) => grant.privilege).join(', ');

/**
 * The required grants the user lacks, given the global privileges it holds (information_schema's
 * USER_PRIVILEGES). REPLICATION SLAVE is required when the archive streams, or reads through the server.
 */
export function missingGrants(held: readonly string[], needs: { streamedBinlog: boolean }): RequiredGrant[] {
  const have = new Set(held.map((privilege) => privilege.trim().toUpperCase()));
  return MARIADB_GRANTS.filter((grant) => (grant.onlyWhen !== 'streamed-binlog' || needs.streamedBinlog) && !have.has(grant.privilege)).map(({ privilege, for: purpose }) => ({ privilege, for: purpose }));
}
