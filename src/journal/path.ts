import os from 'node:os';
import path from 'node:path';

/** arca's state directory: `$XDG_STATE_HOME/arca`, or `~/.local/state/arca`. */
export function defaultStateDir(env = process.env): string {
  return path.join(env.XDG_STATE_HOME || path.join(os.homedir(), '.local', 'state'), 'arca');
}

/** The journal database: `--journal FILE`, else `$ARCA_JOURNAL`, else `journal.db` in the state directory. */
export function journalPath(option?: string, env = process.env): string {
  return option || env.ARCA_JOURNAL || path.join(defaultStateDir(env), 'journal.db');
}
