import type { VerifyProblem } from '../../images/store/verify.js';
import type { Db } from './database.js';

/**
 * The last full verification the server ran of each version: running, ok, or failed with its
 * problems. A version whose last verification failed is refused for new tasks until a later one
 * passes (a volume put back from a copy, say).
 */
export interface Verification {
  name: string;
  version: string;
  state: 'running' | 'ok' | 'failed';
  startedAt: number;
  endedAt: number | null;
  problems: VerifyProblem[];
}

interface Row {
  name: string;
  version: string;
  state: Verification['state'];
  started_at: number;
  ended_at: number | null;
  problems: string;
}

const fromRow = (r: Row): Verification => ({ name: r.name, version: r.version, state: r.state, startedAt: r.started_at, endedAt: r.ended_at, problems: JSON.parse(r.problems) as VerifyProblem[] });

export class ImageVerifications {
  constructor(private readonly db: Db) {
    // A verification the last server process did not finish has no result: it is forgotten.
    db.prepare("DELETE FROM image_verifications WHERE state = 'running'").run();
  }

  begin(name: string, version: string): void {
    this.db
      .prepare("INSERT INTO image_verifications (name, version, state, started_at) VALUES (?, ?, 'running', ?) ON CONFLICT (name, version) DO UPDATE SET state = 'running', started_at = excluded.started_at, ended_at = NULL, problems = '[]'")
      .run(name, version, Date.now());
  }

  end(name: string, version: string, problems: VerifyProblem[]): Verification {
    this.db.prepare('UPDATE image_verifications SET state = ?, ended_at = ?, problems = ? WHERE name = ? AND version = ?').run(problems.length === 0 ? 'ok' : 'failed', Date.now(), JSON.stringify(problems), name, version);
    return this.get(name, version)!;
  }

  get(name: string, version: string): Verification | undefined {
    const row = this.db.prepare('SELECT * FROM image_verifications WHERE name = ? AND version = ?').get(name, version) as Row | undefined;
    return row ? fromRow(row) : undefined;
  }

  /** Every recorded verification, keyed name@version, for the images list. */
  all(): Map<string, Verification> {
    return new Map((this.db.prepare('SELECT * FROM image_verifications').all() as Row[]).map((r) => [`${r.name}@${r.version}`, fromRow(r)]));
  }
}
