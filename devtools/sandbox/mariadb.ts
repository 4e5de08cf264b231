import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { MARIADB_GRANT_LIST } from '../../domain/grants.js';
import { randomBytes } from 'node:crypto';
import { execa } from 'execa';
import type { StorageConfig } from '../../domain/config.js';
import { freePort, isRunning, stopPid, waitFor } from './processes.js';

/**
 * Grants the product's user needs on MariaDB 10.11 and 11.x; the sandbox's backup user has exactly
 * these. mariadb-backup needs the first four; an in-place restore checks that every table of the
 * restored server opens (SELECT) and starts its binlog history at the backup's GTID position
 * (BINLOG ADMIN, REPLICATION MASTER ADMIN, REPLICATION SLAVE ADMIN); the binlog archive reads a
 * binlog the server encrypts (encrypt_binlog) through the server (REPLICATION SLAVE).
 */
export const BACKUP_GRANTS = MARIADB_GRANT_LIST;

export interface SandboxSettings {
  /** Encrypt data at rest with new keys (true), or with the keys of another sandbox, whose files this one is to read. */
  dataAtRestEncryption?: true | { keysOf: MariaDbSandbox };
  /**
   * The OS account the server runs as, as a packaged server runs as `mysql`: its folder, files,
   * socket, key and password files are that account's (default: root).
   */
  osUser?: string;
}

/**
 * A MariaDB server of its own: datadir, socket, loopback port and pid file under one folder, never
 * the system service. The backup user's password lives in a 0600 file beside it.
 */
export class MariaDbSandbox {
  readonly datadir: string;
  readonly socket: string;
  readonly serverDefaultsFile: string;
  readonly pidFile: string;
  readonly passwordFile: string;
  /** The file_key_management key file, with data-at-rest encryption. */
  readonly keyFile: string;
  /** The server options that read its encrypted files (empty without data-at-rest encryption): what a server on a copy of its datadir needs too. */
  readonly dataAtRestOptions: string[] = [];
  readonly backupUser = 'backup';

  private constructor(
    readonly dir: string,
    readonly port: number,
  ) {
    this.datadir = join(dir, 'data');
    this.socket = join(dir, 'mariadb.sock');
    this.serverDefaultsFile = join(dir, 'my.cnf');
    this.pidFile = join(dir, 'mariadbd.pid');
    this.passwordFile = join(dir, 'backup-password');
    this.keyFile = join(dir, 'encryption-keys.txt');
  }

  /**
   * Initialises a datadir, starts the server and creates the backup user. With `dataAtRestEncryption`
   * the server encrypts everything it writes (tables, redo log, binlog, temporary files, Aria) with
   * keys of the file_key_management plugin, from a 0600 key file beside it.
   */
  static async create(dir: string, serverOptions: string[] = [], settings: SandboxSettings = {}): Promise<MariaDbSandbox> {
    const sandbox = new MariaDbSandbox(dir, await freePort());
    // A temporary folder of its own: sandboxes bootstrapping at the same moment collide in a shared /tmp.
    const tmp = join(dir, 'tmp');
    await mkdir(tmp, { recursive: true });
    const owner = settings.osUser;
    const ownedByServer = async () => {
      if (owner) await execa('chown', ['-R', `${owner}:${owner}`, dir]);
    };
    const encryption = sandbox.dataAtRestOptions;
    if (settings.dataAtRestEncryption) {
      const keyFile = sandbox.keyFile;
      // A second server that is to read the first one's files needs the same keys.
      const keys = settings.dataAtRestEncryption === true ? `1;${randomBytes(32).toString('hex')}\n2;${randomBytes(32).toString('hex')}\n` : await readFile(settings.dataAtRestEncryption.keysOf.keyFile, 'utf8');
      await writeFile(keyFile, keys, { mode: 0o600 });
      encryption.push(
        'plugin_load_add=file_key_management',
        `file_key_management_filename=${keyFile}`,
        'file_key_management_encryption_algorithm=AES_CTR',
        'innodb_encrypt_tables=ON',
        'innodb_encrypt_log=ON',
        'innodb_encrypt_temporary_tables=ON',
        'encrypt_binlog=ON',
        'encrypt_tmp_files=ON',
        'aria_encrypt_tables=ON',
      );
    }
    const options = [
      '[mysqld]',
      `datadir=${sandbox.datadir}`,
      `socket=${sandbox.socket}`,
      `port=${sandbox.port}`,
      'bind-address=127.0.0.1',
      `pid-file=${sandbox.pidFile}`,
      `tmpdir=${tmp}`,
      `user=${owner ?? 'root'}`,
      `log-error=${join(dir, 'mariadbd.err')}`,
      `log-bin=${join(sandbox.datadir, 'binlog')}`,
      'server-id=1',
      'innodb_buffer_pool_size=128M',
      'innodb_log_file_size=64M',
      'max_connections=50',
      'skip-name-resolve',
      ...encryption,
      // Later lines win: callers may enlarge the buffer pool or the connection limit.
      ...serverOptions,
    ];
    await writeFile(sandbox.serverDefaultsFile, `${options.join('\n')}\n`);
    await ownedByServer();
    // Initialised from the server's own option file, so that a layout of its own (redo, undo, system
    // tablespace in folders of their own) is the one its first files are made with.
    await execa('mariadb-install-db', [`--defaults-file=${sandbox.serverDefaultsFile}`, '--auth-root-authentication-method=normal', '--skip-test-db']);
    await sandbox.start();
    const password = randomBytes(12).toString('base64url');
    await writeFile(sandbox.passwordFile, `${password}\n`, { mode: 0o600 });
    await chmod(sandbox.passwordFile, 0o600);
    await ownedByServer();
    await sandbox.sql(`CREATE USER '${sandbox.backupUser}'@'localhost' IDENTIFIED BY '${password}'; GRANT ${BACKUP_GRANTS} ON *.* TO '${sandbox.backupUser}'@'localhost'`);
    return sandbox;
  }

  async pid(): Promise<number | undefined> {
    const pid = Number((await readFile(this.pidFile, 'utf8').catch(() => '')).trim());
    return Number.isInteger(pid) && pid > 0 && isRunning(pid) ? pid : undefined;
  }

  async start(): Promise<void> {
    const child = spawn('mariadbd', [`--defaults-file=${this.serverDefaultsFile}`], { detached: true, stdio: 'ignore' });
    child.unref();
    let exited = false;
    child.once('exit', () => (exited = true));
    await waitFor(`MariaDB sandbox in ${this.dir}`, async () => (await this.sql('SELECT 1').then(() => true)), 60_000, () => !exited);
  }

  async stop(): Promise<void> {
    const pid = await this.pid();
    if (pid) await stopPid(pid, 60_000);
  }

  /** Runs SQL as root over the socket; returns rows of tab-separated columns. */
  async sql(query: string): Promise<string[][]> {
    const { stdout } = await execa('mariadb', ['--no-defaults', `--socket=${this.socket}`, '--user=root', '--batch', '--skip-column-names', '-e', query]);
    return stdout === '' ? [] : stdout.split('\n').map((line) => line.split('\t'));
  }

  /** A small shop schema with a few thousand rows, including a text column and secondary indexes. */
  async loadSampleData(rows = 2000): Promise<void> {
    await this.sql(`
      CREATE DATABASE IF NOT EXISTS shop;
      USE shop;
      CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(64) NOT NULL, email VARCHAR(128), KEY (name)) ENGINE=InnoDB;
      CREATE TABLE orders (id INT PRIMARY KEY AUTO_INCREMENT, customer_id INT NOT NULL, total DECIMAL(10,2), note TEXT, KEY (customer_id)) ENGINE=InnoDB;
      INSERT INTO customers SELECT seq, CONCAT('customer ', seq), CONCAT('c', seq, '@example.com') FROM seq_1_to_${rows};
      INSERT INTO orders (customer_id, total, note) SELECT 1 + seq % ${rows}, seq * 1.25, REPEAT(CHAR(65 + seq % 26), 200) FROM seq_1_to_${rows * 2};
    `);
  }

  /** `CHECKSUM TABLE … EXTENDED` of every table of the given databases, keyed by `db.table`. */
  async checksums(databases: string[]): Promise<Record<string, string>> {
    const list = databases.map((db) => `'${db}'`).join(',');
    const tables = await this.sql(`SELECT CONCAT(table_schema, '.', table_name) FROM information_schema.tables WHERE table_schema IN (${list}) AND table_type = 'BASE TABLE' ORDER BY 1`);
    if (tables.length === 0) return {};
    const rows = await this.sql(`CHECKSUM TABLE ${tables.map(([name]) => name).join(', ')} EXTENDED`);
    return Object.fromEntries(rows.map(([table = '', checksum = '']) => [table, checksum]));
  }

  /** How the backup user connects: over the socket, the password in a 0600 file. */
  connection(): { socket: string; user: string; passwordFile: string } {
    return { socket: this.socket, user: this.backupUser, passwordFile: this.passwordFile };
  }

  /** A cluster entry for the product's configuration, backed by this sandbox. */
  clusterConfig(name: string, storage: StorageConfig, extra: Record<string, unknown> = {}): Record<string, unknown> {
    return {
      name,
      connection: this.connection(),
      datadir: this.datadir,
      storage,
      controller: { kind: 'process', defaultsFile: this.serverDefaultsFile },
      ...extra,
    };
  }
}
