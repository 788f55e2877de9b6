import { constants } from 'node:fs';
import { lchown, lstat, open, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Takes a version a backup client wrote out of the client's hands before the server reads it:
 * every directory and file becomes root's, readable by the backup group (the client reads its last
 * version back for --incremental) and writable by nobody else. Directories are frozen before their
 * entries are looked at, so the client cannot add one behind the walk; ownership changes never
 * follow a link (lchown; modes through an O_NOFOLLOW descriptor), so a link the client planted
 * cannot hand the server's own files to it. What is neither a file nor a directory is reported,
 * not followed.
 */
export interface FrozenVersion {
  bytes: number;
  files: number;
  /** Paths (relative) that are links, devices, sockets or fifos: a version never holds them. */
  strange: string[];
}

const DIR_MODE = 0o750;
const FILE_MODE = 0o640;

async function setModeNoFollow(path: string, mode: number): Promise<void> {
  const fh = await open(path, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  try {
    await fh.chmod(mode);
  } finally {
    await fh.close();
  }
}

export async function freezeVersion(dir: string, gid: number): Promise<FrozenVersion> {
  const out: FrozenVersion = { bytes: 0, files: 0, strange: [] };
  const walk = async (abs: string, rel: string): Promise<void> => {
    await lchown(abs, 0, gid);
    await setModeNoFollow(abs, DIR_MODE);
    for (const name of (await readdir(abs)).sort()) {
      const path = join(abs, name);
      const relPath = rel ? `${rel}/${name}` : name;
      const st = await lstat(path);
      if (st.isDirectory()) {
        await walk(path, relPath);
      } else if (st.isFile()) {
        await lchown(path, 0, gid);
        await setModeNoFollow(path, FILE_MODE);
        out.bytes += st.size;
        out.files += 1;
      } else {
        await lchown(path, 0, 0);
        out.strange.push(relPath);
      }
    }
  };
  await walk(dir, '');
  return out;
}
