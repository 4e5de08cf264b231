import { describe, expect, test } from '@jest/globals';
import { ApplicationFailure } from '@temporalio/common';
import { describeFailure } from '../../domain/failures.js';
import { TOOL_FILE_GENERATIONS, toolFileGenerationIn, toolFilesOf } from '../../domain/layout.js';
import { storageOptions } from '../../domain/server-layout.js';
import { classifyToolFailure, MAX_TOOL_MESSAGE_CHARS, readableToolLog } from '../../domain/tool-failures.js';
import { checkContinuableBy, checkPreparableBy, releaseSeries } from '../../domain/tool-version.js';

describe('the two generations of tool file names', () => {
  test('a folder is read under the names its tool wrote: xtrabackup_* before mariadb-backup 11, mariadb_backup_* from 11 on', () => {
    // --extra-lsndir of mariadb-backup 10.11.19 and of 11.8.9, as listed on those servers.
    expect(toolFileGenerationIn(['xtrabackup_checkpoints', 'xtrabackup_info'])).toBe('xtrabackup');
    expect(toolFileGenerationIn(['mariadb_backup_checkpoints', 'mariadb_backup_info'])).toBe('mariadb_backup');
    // The extracted stream of 11.8 also holds backup-my.cnf and the binlog info.
    expect(toolFileGenerationIn(['backup-my.cnf', 'mariadb_backup_binlog_info', 'mariadb_backup_checkpoints', 'mariadb_backup_info', 'ibdata1'])).toBe('mariadb_backup');
    expect(toolFileGenerationIn(['backup-my.cnf', 'ibdata1'])).toBeUndefined();
    expect(toolFileGenerationIn([])).toBeUndefined();
  });

  test('a manifest without toolFiles is from before 11.x: the old names', () => {
    expect(toolFilesOf({})).toBe(TOOL_FILE_GENERATIONS.xtrabackup);
    expect(toolFilesOf({ toolFiles: 'mariadb_backup' }).checkpoints).toBe('mariadb_backup_checkpoints');
    expect(toolFilesOf({ toolFiles: 'xtrabackup' }).info).toBe('xtrabackup_info');
  });
});

describe('release series of the tools', () => {
  test('reads the series from every shape of version the tools and servers print', () => {
    expect(releaseSeries('10.11.19-MariaDB')).toBe('10.11');
    expect(releaseSeries('10.11.19-MariaDB-0+deb12u1-log')).toBe('10.11');
    expect(releaseSeries('mariadb-backup based on MariaDB server 11.8.9-MariaDB debian-linux-gnu (x86_64)')).toBe('11.8');
    expect(releaseSeries('mariadb-backup based on MariaDB server 10.11.19-MariaDB debian-linux-gnu (x86_64)')).toBe('10.11');
    expect(releaseSeries('8.0.35-30')).toBe('8.0');
    expect(releaseSeries('xtrabackup version 8.4.0-1 based on MySQL server 8.4.0 Linux (x86_64)')).toBe('8.4');
    expect(releaseSeries(undefined)).toBeUndefined();
    expect(releaseSeries('unknown')).toBeUndefined();
  });

  const chain = [
    { name: 'shop-2026-12-01T010000.000Z-full', manifest: { tool: { name: 'mariadb-backup', version: '10.11.19-MariaDB' }, serverVersion: '10.11.19-MariaDB-0+deb12u1-log' } },
    { name: 'shop-2026-12-02T010000.000Z-incr', manifest: { tool: { name: 'mariadb-backup', version: '10.11.19-MariaDB' }, serverVersion: '10.11.19-MariaDB-0+deb12u1-log' } },
  ];

  test('a chain is prepared only by a tool of its own series; the refusal names both versions and what to do', () => {
    expect(checkPreparableBy(chain, { binary: 'mariadb-backup', version: 'mariadb-backup based on MariaDB server 10.11.6-MariaDB debian-linux-gnu (x86_64)' }).ok).toBe(true);
    const refused = checkPreparableBy(chain, { binary: 'mariadb-backup', version: 'mariadb-backup based on MariaDB server 11.8.9-MariaDB debian-linux-gnu (x86_64)' });
    expect(refused).toMatchObject({ ok: false, code: 'ToolVersionMismatch' });
    if (refused.ok) return;
    expect(refused.reason).toContain('shop-2026-12-01T010000.000Z-full was taken by mariadb-backup 10.11.19-MariaDB (series 10.11)');
    expect(refused.reason).toContain("this worker's mariadb-backup is 11.8");
    expect(refused.reason).toContain('backup.toolPath');
    // A backup whose tool named no version falls back to its server's version.
    expect(checkPreparableBy([{ name: 'x', manifest: { tool: { name: 'mariadb-backup' }, serverVersion: '11.8.9-MariaDB' } }], { binary: 'mariadb-backup', version: '10.11.19' }).ok).toBe(false);
  });

  test('an increment does not continue a chain across series: a server upgraded mid-chain starts a new one', () => {
    const parent = chain[1] as (typeof chain)[number];
    expect(checkContinuableBy(parent, { cluster: 'shop', serverVersion: '10.11.20-MariaDB-log' }).ok).toBe(true);
    const refused = checkContinuableBy(parent, { cluster: 'shop', serverVersion: '11.8.9-MariaDB-0+deb13u1-log' });
    expect(refused).toMatchObject({ ok: false, code: 'ToolVersionMismatch', reason: expect.stringContaining('chainbackup backup shop --type full') });
  });
});

describe('tool failures', () => {
  // What mariadb-backup printed for a corrupted page of shop.items (one page as hex on one line).
  const pageDump = `len 16384; hex ${'0a1b2c3d'.repeat(4096)}; asc ${'.'.repeat(2000)};`;
  const corrupted = [
    '[00] 2026-12-06 10:00:00 Connecting to server host: localhost, user: backup, password: set, port: not set, socket: /tmp/s.sock',
    '[01] 2026-12-06 10:00:01 Copying ./shop/customers.ibd to <STDOUT>',
    '[01] 2026-12-06 10:00:01 Database page corruption detected at page 3, retrying...',
    pageDump,
    '[01] 2026-12-06 10:00:02 Error: failed to read page after 10 retries. File ./shop/items.ibd seems to be corrupted.',
    '[01] mariabackup: Error: xtrabackup_copy_datafile() failed.',
    '[00] FATAL ERROR: 2026-12-06 10:00:02 failed to copy datafile.',
  ].join('\n');

  test('a corrupted page fails at once, naming the file, in a short message without the dump', () => {
    const failure = classifyToolFailure(corrupted);
    expect(failure).toMatchObject({ deterministic: true, reason: 'a corrupted page in ./shop/items.ibd' });
    expect(failure.message).not.toContain('0a1b2c3d');
    expect(failure.message).toContain('failed to copy datafile');
    expect(failure.message.length).toBeLessThanOrEqual(MAX_TOOL_MESSAGE_CHARS);
  });

  test('an unknown option, a refused login and an unsupported server fail at once; a lost connection or an I/O error is retried', () => {
    expect(classifyToolFailure("mariadb-backup: unknown option '--no-such-thing'")).toMatchObject({ deterministic: true, reason: 'the tool does not know the option --no-such-thing' });
    expect(classifyToolFailure("Failed to connect to MariaDB server: Access denied for user 'backup'@'localhost' (using password: YES)")).toMatchObject({ deterministic: true });
    expect(classifyToolFailure('Error: Unsupported server version 12.0.1-MariaDB')).toMatchObject({ deterministic: true });
    expect(classifyToolFailure('[00] FATAL ERROR: Lost connection to MySQL server during query')).toMatchObject({ deterministic: false });
    expect(classifyToolFailure('[01] os_file_write: Error: 5 (Input/output error)')).toMatchObject({ deterministic: false });
  });

  test('no message outgrows its limit, whatever the tool printed', () => {
    const noisy = Array.from({ length: 400 }, (_, index) => `line ${index} ${'x'.repeat(5000)}`).join('\n');
    const readable = readableToolLog(noisy);
    expect(readable.length).toBeLessThanOrEqual(MAX_TOOL_MESSAGE_CHARS + 1);
    expect(readable).toContain('line 399');
    expect(readableToolLog('x'.repeat(100_000)).length).toBeLessThanOrEqual(MAX_TOOL_MESSAGE_CHARS + 1);
  });
});

describe('options a private server needs to read a server\'s files', () => {
  test('keeps the key management plugin, its settings, what is encrypted and the page size; leaves the rest', () => {
    const options: [string, string | null][] = [
      ['datadir', '/var/lib/mysql'],
      ['port', '3306'],
      ['plugin-load-add', 'file_key_management'],
      ['plugin_load_add', 'server_audit'],
      ['file-key-management-filename', '/etc/mysql/keys.enc'],
      ['file_key_management_filekey', 'FILE:/etc/mysql/keyfile.key'],
      ['hashicorp_key_management_vault_url', 'https://vault:8200/v1/mariadb'],
      ['loose-file-key-management-encryption-algorithm', 'AES_CTR'],
      ['innodb_encrypt_tables', 'FORCE'],
      ['innodb-encrypt-log', null],
      ['encrypt_binlog', '1'],
      ['innodb_page_size', '32k'],
      ['innodb_buffer_pool_size', '8G'],
      ['loose-innodb-buffer-pool-size', '8G'],
      ['lower_case_table_names', '1'],
    ];
    expect(storageOptions(options)).toEqual([
      'plugin_load_add=file_key_management',
      'plugin_load_add=server_audit',
      'file_key_management_filename=/etc/mysql/keys.enc',
      'file_key_management_filekey=FILE:/etc/mysql/keyfile.key',
      'hashicorp_key_management_vault_url=https://vault:8200/v1/mariadb',
      'loose_file_key_management_encryption_algorithm=AES_CTR',
      'innodb_encrypt_tables=FORCE',
      'innodb_encrypt_log',
      'encrypt_binlog=1',
      'innodb_page_size=32k',
      'lower_case_table_names=1',
    ]);
  });
});

describe('failure descriptions', () => {
  test('name the innermost typed failure after the outer message', () => {
    const typed = ApplicationFailure.create({ type: 'BackupToolFailed', message: 'mariadb-backup failed for cluster shop: a corrupted page' });
    const outer = new Error('Workflow execution failed', { cause: new Error('Activity task failed', { cause: typed }) });
    expect(describeFailure(outer)).toBe('Workflow execution failed: BackupToolFailed: mariadb-backup failed for cluster shop: a corrupted page');
    expect(describeFailure(new Error('plain'))).toBe('plain');
    expect(describeFailure(new Error('outer', { cause: new Error('inner') }))).toBe('outer: inner');
  });
});
