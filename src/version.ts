import { readFileSync } from 'node:fs';

/** arca's version, from package.json. */
export const version: string = (() => {
  for (const rel of ['../../package.json', '../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'arca' && pkg.version) return pkg.version;
    } catch {
      // try the next candidate: the layout differs between dist/ and a tsx run from src/
    }
  }
  return '0.0.0';
})();
