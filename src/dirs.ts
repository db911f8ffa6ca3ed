import os from 'node:os';
import path from 'node:path';

/** Where arca keeps its own files, by the XDG base-directory rules. */
export interface ArcaDirs {
  /** `$XDG_DATA_HOME/arca` or `~/.local/share/arca`: the quickstart repository. */
  data: string;
  /** `$XDG_CONFIG_HOME/arca` or `~/.config/arca`: the generated password. */
  config: string;
  /** `$XDG_STATE_HOME/arca` or `~/.local/state/arca`: the journal. */
  state: string;
  /** `$XDG_CACHE_HOME/arca` or `~/.cache/arca`: cached metadata of remote repositories. */
  cache: string;
}

/** arca's directories for `env` and the home directory `home` (an empty variable counts as unset). */
export function arcaDirs(env: NodeJS.ProcessEnv = process.env, home = os.homedir()): ArcaDirs {
  const base = (variable: string, fallback: string): string =>
    path.join(env[variable] || path.join(home, fallback), 'arca');
  return {
    data: base('XDG_DATA_HOME', '.local/share'),
    config: base('XDG_CONFIG_HOME', '.config'),
    state: base('XDG_STATE_HOME', '.local/state'),
    cache: base('XDG_CACHE_HOME', '.cache'),
  };
}
