import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';

/**
 * Names of temporary files carry the writer's pid, a random part and its host. Array tasks on
 * several nodes share one corpus folder (and one poc cache), where pids repeat from node to
 * node: the host says whose pid it is, and the random part keeps two writers of one process
 * (or two processes of one pid on two hosts) from ever sharing a temporary file.
 */
export function tempSuffix(): string {
  return `${process.pid}-${randomBytes(4).toString('hex')}@${hostTag()}`;
}

/** This machine's name as it appears in temporary file names (characters outside [A-Za-z0-9.-] become _). */
export function hostTag(): string {
  return hostname().replace(/[^A-Za-z0-9.-]/g, '_') || 'localhost';
}

/** The writer of a temporary name's suffix; `host` is undefined for names written before hosts were recorded (taken as local). */
export function parseTempSuffix(suffix: string): { pid: number; host?: string } | undefined {
  const m = /^(\d+)-[0-9A-Za-z]+(?:@(.+))?$/.exec(suffix);
  if (!m) return undefined;
  return { pid: Number(m[1]), host: m[2] };
}

/** Whether process `pid` of this machine is running (EPERM: it exists, owned by someone else). */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
