import { readFileSync } from 'node:fs';

/** Maps numeric user and group IDs to names, from /etc/passwd and /etc/group (read once). */
export class Accounts {
  private users: Map<number, string> | undefined;
  private groups: Map<number, string> | undefined;

  /** The user name of `uid`, or '' when unknown (restic then omits the field). */
  user(uid: number): string {
    this.users ??= readIdFile('/etc/passwd');
    return this.users.get(uid) ?? '';
  }

  /** The group name of `gid`, or '' when unknown. */
  group(gid: number): string {
    this.groups ??= readIdFile('/etc/group');
    return this.groups.get(gid) ?? '';
  }
}

function readIdFile(file: string): Map<number, string> {
  const m = new Map<number, string>();
  let text = '';
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return m;
  }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    const id = Number(f[2]);
    if (f[0] && Number.isInteger(id) && !m.has(id)) m.set(id, f[0]);
  }
  return m;
}
