import type { ClusterConfig, Config } from '../domain/config.js';
import { businessFailure, FailureType } from '../domain/failures.js';
import type { KeyRing } from '../encryption/objects.js';
import { loadKeyRing } from '../encryption/keys.js';
import { recordKeys, type RecordKeys } from '../encryption/records.js';
import { openStore, type ObjectStore } from './storage/index.js';

/** What activities are built from: the worker's own configuration, read from its disk. */
export class ActivityDeps {
  private readonly stores = new Map<string, ObjectStore>();
  private keyRing: Promise<KeyRing> | undefined;
  private signingKeys: Promise<RecordKeys | undefined> | undefined;

  constructor(readonly config: Config) {}

  /** The worker's encryption keys, read once; a failed read is tried again by the next caller. */
  keys(): Promise<KeyRing> {
    this.keyRing ??= loadKeyRing(this.config.encryption).catch((error: unknown) => {
      this.keyRing = undefined;
      throw error;
    });
    return this.keyRing;
  }

  /**
   * The keys records are signed and checked with: derived from the `integrity` keys, else from the
   * encryption keys; none without either. Read once; a failed read is tried again by the next caller.
   */
  recordKeys(): Promise<RecordKeys | undefined> {
    this.signingKeys ??= (this.config.integrity ? loadKeyRing(this.config.integrity, process.env, 'integrity key') : this.keys()).then(recordKeys).catch((error: unknown) => {
      this.signingKeys = undefined;
      throw error;
    });
    return this.signingKeys;
  }

  cluster(name: string): ClusterConfig {
    const cluster = this.config.clusters.find((candidate) => candidate.name === name);
    if (!cluster) {
      const known = this.config.clusters.map((candidate) => candidate.name).join(', ');
      throw businessFailure(FailureType.UnknownCluster, `unknown cluster "${name}": the configuration lists ${known}`);
    }
    return cluster;
  }

  /** The cluster's own storage; one client per cluster, reused across activities. */
  store(cluster: ClusterConfig): ObjectStore {
    let store = this.stores.get(cluster.name);
    if (!store) {
      store = openStore(cluster.storage, () => this.recordKeys());
      this.stores.set(cluster.name, store);
    }
    return store;
  }
}
