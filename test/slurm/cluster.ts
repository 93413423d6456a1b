import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, hostname, totalmem } from 'node:os';
import { delimiter, join } from 'node:path';

/**
 * A one-node Slurm cluster of our own for the tests: munged, slurmctld and slurmd from
 * Debian's slurm-wlm and munge packages, everything (key, socket, config, state, spool,
 * logs, pid files) in one temporary folder, on free ports, so it touches nothing of the
 * machine's own Slurm or munge. Clients find it through SLURM_CONF in `env`.
 */
export interface SlurmCluster {
  /** environment for sbatch/squeue/scancel (and the jobs, which inherit it) */
  env: NodeJS.ProcessEnv;
  /** the node's name (hostname -s) */
  node: string;
  /** cancels every job, then stops the daemons by the pids in their pid files */
  stop(): Promise<void>;
  /** the last lines of the daemons' logs, for failure messages */
  logs(): string;
}

const PROGRAMS = ['munged', 'slurmctld', 'slurmd', 'sbatch', 'squeue', 'scancel', 'sinfo'];
const SYSTEM_DIRS = ['/usr/sbin', '/sbin', '/usr/local/sbin'];

/** Why a Slurm cluster cannot be started here (one line), or undefined when it can be tried. */
export function slurmUnavailable(): string | undefined {
  if (process.platform !== 'linux') return `Slurm needs Linux (this is ${process.platform})`;
  if (process.getuid?.() !== 0) return 'starting slurmd needs root (run the tests as root, as CI does)';
  const missing = PROGRAMS.filter((p) => !findProgram(p));
  if (missing.length > 0) return `${missing.join(', ')} not installed (apt-get install -y slurm-wlm munge)`;
  return undefined;
}

function searchPath(): string[] {
  return [...(process.env.PATH ?? '').split(delimiter), ...SYSTEM_DIRS].filter(Boolean);
}

function findProgram(name: string): string | undefined {
  for (const dir of searchPath()) if (existsSync(join(dir, name))) return join(dir, name);
  return undefined;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function readPid(file: string): number | undefined {
  try {
    const pid = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(pid) && pid > 1 ? pid : undefined;
  } catch {
    return undefined;
  }
}

async function sleep(ms: number): Promise<void> {
  await new Promise((r) => setTimeout(r, ms));
}

/** Stops one process we started: SIGTERM, then SIGKILL if it is still there after `graceMs`. */
async function stopPid(pid: number | undefined, graceMs = 10_000): Promise<void> {
  if (pid === undefined || !isAlive(pid)) return;
  try { process.kill(pid, 'SIGTERM'); } catch { return; }
  const until = Date.now() + graceMs;
  while (isAlive(pid) && Date.now() < until) await sleep(100);
  if (isAlive(pid)) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
}

/** Starts munged, slurmctld and slurmd in `dir` and waits until the node is idle. */
export async function startSlurm(dir: string): Promise<SlurmCluster> {
  mkdirSync(dir, { recursive: true });
  // munged refuses sockets in folders others cannot traverse, and keys others can read
  chmodSync(dir, 0o711);
  const node = hostname().split('.')[0]!;
  const f = (name: string) => join(dir, name);
  const pidFiles = { munged: f('munged.pid'), slurmctld: f('slurmctld.pid'), slurmd: f('slurmd.pid') };
  const conf = f('slurm.conf');
  const env: NodeJS.ProcessEnv = { SLURM_CONF: conf, PATH: searchPath().join(delimiter) };
  const clientEnv = () => ({ ...process.env, ...env });

  // a watchdog outside this process: if the test runner dies without its afterAll, the daemons go too
  const watchdog = spawn('bash', ['-c',
    `while kill -0 ${process.pid} 2>/dev/null; do sleep 2; done; ` +
    `for f in ${Object.values(pidFiles).map((p) => `'${p}'`).join(' ')}; do [ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null; done`,
  ], { detached: true, stdio: 'ignore' });
  watchdog.unref();

  const tail = (name: string) => (existsSync(f(name)) ? readFileSync(f(name), 'utf8').split('\n').slice(-15).join('\n') : '(none)');
  const logs = () => ['munged.log', 'slurmctld.log', 'slurmd.log'].map((n) => `--- ${n}\n${tail(n)}`).join('\n');

  const stop = async () => {
    // jobs first, so no job step outlives slurmd; it is our private cluster, so all of them
    if (existsSync(conf) && readPid(pidFiles.slurmctld) !== undefined) {
      spawnSync('scancel', ['--full', '--quiet', `--user=${process.getuid?.() ?? 0}`], { env: clientEnv(), timeout: 10_000 });
      const until = Date.now() + 20_000;
      while (Date.now() < until) {
        const q = spawnSync('squeue', ['-h', '-o', '%i'], { env: clientEnv(), encoding: 'utf8', timeout: 10_000 });
        if (q.status !== 0 || q.stdout.trim() === '') break;
        await sleep(250);
      }
    }
    // a last sweep, by pid, of any job process that outlived its cancelled job
    for (const pid of jobProcesses(conf)) await stopPid(pid, 2000);
    await stopPid(readPid(pidFiles.slurmd));
    await stopPid(readPid(pidFiles.slurmctld));
    await stopPid(readPid(pidFiles.munged));
    await stopPid(watchdog.pid, 1000);
  };

  try {
    // a fresh key: any 128 random bytes, readable by root only
    writeFileSync(f('munge.key'), randomBytes(128), { mode: 0o600 });
    const socket = f('munge.socket');
    run('munged', ['--force', `--socket=${socket}`, `--key-file=${f('munge.key')}`, `--log-file=${f('munged.log')}`,
      `--pid-file=${pidFiles.munged}`, `--seed-file=${f('munged.seed')}`], clientEnv());
    await until(() => existsSync(socket), 10_000, 'munged created no socket', logs);

    const [ctldPort, slurmdPort] = [await freePort(), await freePort()];
    mkdirSync(f('state'));
    mkdirSync(f('spool'));
    // Slurm wants the node's memory in MiB; leave it a tenth for the system
    const realMemory = Math.floor((totalmem() / 2 ** 20) * 0.9);
    writeFileSync(conf, [
      'ClusterName=poctest',
      // addresses given, so nothing depends on the host name resolving (bare CI containers)
      `SlurmctldHost=${node}(127.0.0.1)`,
      `SlurmctldPort=${ctldPort}`,
      `SlurmdPort=${slurmdPort}`,
      'SlurmUser=root',
      'SlurmdUser=root',
      'AuthType=auth/munge',
      'CredType=cred/munge',
      `AuthInfo=socket=${socket}`,
      `StateSaveLocation=${f('state')}`,
      `SlurmdSpoolDir=${f('spool')}`,
      `SlurmctldPidFile=${pidFiles.slurmctld}`,
      `SlurmdPidFile=${pidFiles.slurmd}`,
      `SlurmctldLogFile=${f('slurmctld.log')}`,
      `SlurmdLogFile=${f('slurmd.log')}`,
      'ProctrackType=proctrack/linuxproc',
      'TaskPlugin=task/none',
      'SelectType=select/cons_tres',
      // cores only: memory is not a consumable, so jobs need no --mem
      'SelectTypeParameters=CR_CPU',
      'MpiDefault=none',
      // schedule on every event at once: with the defaults each dependent stage and each
      // queued array task starts ~2 s after a slot frees, with these ~1 s (measured here)
      'SchedulerParameters=batch_sched_delay=0,sched_min_interval=0',
      'ReturnToService=2',
      'AccountingStorageType=accounting_storage/none',
      'JobAcctGatherType=jobacct_gather/none',
      'JobCompType=jobcomp/none',
      // SIGKILL 5 s after scancel's SIGTERM (default 30 s)
      'KillWait=5',
      // finished jobs stay visible to squeue for 5 minutes (the test reads their states)
      'MinJobAge=300',
      `NodeName=${node} NodeAddr=127.0.0.1 CPUs=${cpus().length} RealMemory=${realMemory} State=UNKNOWN`,
      `PartitionName=debug Nodes=${node} Default=YES MaxTime=INFINITE State=UP`,
      '',
    ].join('\n'));
    run('slurmctld', ['-f', conf], clientEnv());
    run('slurmd', ['-f', conf], clientEnv());
    await until(() => {
      const r = spawnSync('sinfo', ['-h', '-o', '%t'], { env: clientEnv(), encoding: 'utf8', timeout: 10_000 });
      return r.status === 0 && r.stdout.trim() === 'idle';
    }, 60_000, 'the node did not become idle', logs);
  } catch (err) {
    await stop();
    throw err;
  }
  return { env, node, stop, logs };
}

function run(program: string, args: string[], env: NodeJS.ProcessEnv): void {
  // each daemonises: the command returns once it is in the background
  const r = spawnSync(findProgram(program)!, args, { env, encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`${program} ${args.join(' ')} failed (${r.status ?? r.signal}): ${r.stderr.trim()}`);
}

async function until(ok: () => boolean, timeoutMs: number, what: string, logs: () => string): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`${what} within ${timeoutMs / 1000} s\n${logs()}`);
    await sleep(200);
  }
}

/** States of every task of the given jobs, as "id state" (array tasks one by one, finished ones included). */
export function jobStates(cluster: SlurmCluster, jobIds: string[]): Map<string, string> {
  const r = spawnSync('squeue', ['-h', '-r', '--states=all', '-j', jobIds.join(','), '-o', '%i %T'], {
    env: { ...process.env, ...cluster.env }, encoding: 'utf8', timeout: 10_000,
  });
  if (r.status !== 0) throw new Error(`squeue failed: ${r.stderr.trim()}`);
  return new Map(r.stdout.trim().split('\n').filter(Boolean).map((l) => l.trim().split(/\s+/) as [string, string]));
}

const FINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'NODE_FAIL', 'PREEMPTED', 'OUT_OF_MEMORY', 'BOOT_FAIL', 'DEADLINE']);

/** Waits until every task of the jobs has finished; returns their final states. */
export async function waitForJobs(cluster: SlurmCluster, jobIds: string[], timeoutMs: number): Promise<Map<string, string>> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const states = jobStates(cluster, jobIds);
    if (states.size > 0 && [...states.values()].every((s) => FINAL.has(s))) return states;
    if (Date.now() > end) throw new Error(`jobs ${jobIds.join(',')} not finished within ${timeoutMs / 1000} s: ${JSON.stringify([...states])}\n${cluster.logs()}`);
    await sleep(250);
  }
}

/** Pids of processes started by jobs of this cluster (their environment names its SLURM_CONF and a job id). */
function jobProcesses(conf: string): number[] {
  const marker = `SLURM_CONF=${conf}`;
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const environ = readFileSync(`/proc/${entry}/environ`, 'latin1').split('\0');
      if (environ.includes(marker) && environ.some((v) => v.startsWith('SLURM_JOB_ID='))) pids.push(Number(entry));
    } catch {
      // gone, or not ours to read
    }
  }
  return pids;
}
