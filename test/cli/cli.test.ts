import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { buildProgram } from '../../src/cli/main.js';

const BIN = fileURLToPath(new URL('../../bin/poc.js', import.meta.url));
const CONTRACT_COMMANDS = ['make-tiny-model', 'capture', 'analyze', 'fidelity', 'merge', 'inspect', 'download', 'doctor', 'demo'];

function runCli(args: string[]) {
  return spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8' });
}

describe('cli', () => {
  it('registers every contract subcommand with a description', () => {
    const program = buildProgram();
    const names = program.commands.map((c) => c.name());
    for (const name of CONTRACT_COMMANDS) expect(names).toContain(name);
    for (const cmd of program.commands) expect(cmd.description().length).toBeGreaterThan(10);
  });

  it('has the contract flags on capture and analyze', () => {
    const program = buildProgram();
    const flags = (name: string) => program.commands.find((c) => c.name() === name)!.options.map((o) => o.long);
    expect(flags('capture')).toEqual(expect.arrayContaining([
      '--task', '--all-tasks', '--model', '--out', '--prompts', '--prompt-idx', '--source', '--max-length',
      '--n-sink', '--t-sub', '--chunk', '--seed', '--ep', '--with-input-ids', '--with-keys', '--with-values', '--shard', '--force',
    ]));
    expect(flags('analyze')).toEqual(expect.arrayContaining([
      '--corpus', '--out', '--units', '--k-max', '--covariance', '--granularity', '--kv-heads', '--holdout',
      '--alpha', '--seed', '--shard', '--threads',
    ]));
    expect(flags('fidelity')).toEqual(expect.arrayContaining(['--corpus', '--out', '--future', '--keep', '--ratios', '--no-press']));
    expect(flags('make-tiny-model')).toEqual(expect.arrayContaining([
      '--out', '--layers', '--hidden', '--heads', '--kv-heads', '--intermediate', '--vocab', '--seed', '--style',
    ]));
  });

  it('prints help and exits 0', () => {
    const r = runCli(['--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('capture');
    for (const name of CONTRACT_COMMANDS) {
      const sub = runCli([name, '--help']);
      expect(sub.status, name).toBe(0);
      expect(sub.stdout).toContain(`Usage: poc ${name}`);
    }
  });

  it('exits 1 with one line on a bad flag value', () => {
    const r = runCli(['analyze', '--out', 'r.md', '--k-max', 'ten']);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/--k-max.*expected an integer/);
    expect(r.stderr).not.toMatch(/at .*\.js:\d+/);
  });

  it('exits 1 on an unknown command', () => {
    const r = runCli(['frobnicate']);
    expect(r.status).toBe(1);
  });
});
