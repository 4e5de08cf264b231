/** Issue 21: where a server keeps its files, and what a restore must move for each layout. */
import { describe, expect, test } from '@jest/globals';
import { belongsToPlace, dataFileNames, gtidRestartStatements, keptServerOptions, placesOutsideDatadir, remoteTablespacePlacement, serverLayout, unsupportedLayout, type ServerVariables } from '../../domain/server-layout.js';

const defaults: ServerVariables = {
  datadir: '/var/lib/mysql/',
  innodbDataHomeDir: null,
  innodbDataFilePath: 'ibdata1:12M:autoextend',
  innodbUndoTablespaces: 0,
  innodbLogGroupHomeDir: './',
  innodbUndoDirectory: './',
  logBinBasename: '/var/lib/mysql/mysql-bin',
  logBinIndex: '/var/lib/mysql/mysql-bin.index',
  relayLogBasename: null,
  relayLogIndex: null,
  ariaLogDirPath: '/var/lib/mysql/',
};

describe('server layouts', () => {
  test('everything in the datadir: nothing to move but the datadir', () => {
    expect(placesOutsideDatadir(serverLayout(defaults))).toEqual([]);
  });

  test('redo, undo, system tablespace and binlogs in folders of their own are each a place', () => {
    const layout = serverLayout({
      ...defaults,
      innodbDataHomeDir: '/ssd/ibdata',
      innodbDataFilePath: 'ibdata1:12M;ibdata2:12M:autoextend',
      innodbLogGroupHomeDir: '/redo',
      innodbUndoDirectory: '../undo',
      logBinBasename: '/binlogs/mysql-bin',
      logBinIndex: '/binlogs/mysql-bin.index',
    });
    expect(layout.undoDirectory).toBe('/var/lib/undo');
    const places = placesOutsideDatadir(layout);
    expect(places.map((place) => [place.label, place.folder, place.restored])).toEqual([
      ['redo', '/redo', true],
      ['undo', '/var/lib/undo', true],
      ['data-home', '/ssd/ibdata', true],
      ['binlog', '/binlogs', false],
    ]);
    expect(places.find((place) => place.label === 'binlog')?.patterns.map((pattern) => new RegExp(pattern).test('mysql-bin.000012'))).toEqual([true, false]);
    expect(keptServerOptions('/k', layout, places)).toEqual([
      'datadir=/k',
      'innodb_data_file_path=ibdata1:12M;ibdata2:12M:autoextend',
      'innodb_undo_tablespaces=0',
      'innodb_log_group_home_dir=/k/.chainbackup-kept/redo',
      'innodb_undo_directory=/k/.chainbackup-kept/undo',
      'innodb_data_home_dir=/k/.chainbackup-kept/data-home',
      'log-bin=/k/.chainbackup-kept/binlog/mysql-bin',
      'log-bin-index=/k/.chainbackup-kept/binlog.index',
    ]);
  });

  test("both flavours' redo and undo files are recognised (Percona XtraBackup for MySQL 8: #innodb_redo, undo_001)", () => {
    const places = placesOutsideDatadir(serverLayout({ ...defaults, innodbLogGroupHomeDir: '/redo', innodbUndoDirectory: '/undo' }));
    const redo = places.find((place) => place.label === 'redo');
    const undo = places.find((place) => place.label === 'undo');
    expect(['ib_logfile0', '#innodb_redo', 'ibdata1'].map((name) => redo !== undefined && belongsToPlace(redo, name))).toEqual([true, true, false]);
    expect(['undo001', 'undo_002', 'undo.log', 'ibdata1'].map((name) => undo !== undefined && belongsToPlace(undo, name))).toEqual([true, true, false, false]);
  });

  test('the GTID restart statements take only a GTID list', () => {
    expect(gtidRestartStatements('0-1-5,1-2-9')).toEqual(['RESET MASTER;', "SET GLOBAL gtid_binlog_state = '0-1-5,1-2-9';", "SET GLOBAL gtid_slave_pos = '0-1-5,1-2-9';"]);
    expect(gtidRestartStatements("0-1-5'; DROP DATABASE shop; --")).toBeUndefined();
    expect(gtidRestartStatements('')).toBeUndefined();
  });

  test('a layout the restore cannot honour is named by its setting', () => {
    expect(dataFileNames('ibdata1:12M;ibdata2:12M:autoextend')).toEqual(['ibdata1', 'ibdata2']);
    expect(unsupportedLayout(serverLayout(defaults), ['ibdata1', 'ibdata2'])).toEqual([expect.stringContaining('innodb_data_file_path: the backup')]);
    expect(unsupportedLayout(serverLayout({ ...defaults, innodbUndoDirectory: '/var/lib' }), undefined)).toEqual([expect.stringContaining('innodb_undo_directory: /var/lib contains the datadir')]);
    expect(unsupportedLayout(serverLayout(defaults), ['ibdata1'])).toEqual([]);
  });

  test("a remote tablespace keeps its path only on its own server, and never in another server's folders", () => {
    const tablespace = { link: 'shop/archive.isl', path: '/fast/shop/archive.ibd' };
    expect(remoteTablespacePlacement(tablespace, { sameServer: true, otherServersFolders: ['/var/lib/other'] })).toBe('own-path');
    expect(remoteTablespacePlacement(tablespace, { sameServer: false, otherServersFolders: [] })).toBe('into-datadir');
    expect(remoteTablespacePlacement(tablespace, { sameServer: true, otherServersFolders: ['/fast'] })).toBe('into-datadir');
  });
});
