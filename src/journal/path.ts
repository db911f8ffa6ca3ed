import path from 'node:path';
import { arcaDirs } from '../dirs.js';

/** The journal database: `--journal FILE`, else `$ARCA_JOURNAL`, else `journal.db` in the state directory. */
export function journalPath(option?: string, env = process.env): string {
  return option || env.ARCA_JOURNAL || path.join(arcaDirs(env).state, 'journal.db');
}
