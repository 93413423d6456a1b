import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** SwiftShader, the software Vulkan device Debian's `chromium` package ships (no GPU needed). */
export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';
/** chromium's folder also holds a Vulkan loader (libvulkan.so.1), for machines without Debian's libvulkan1. */
const CHROMIUM_LIBS = '/usr/lib/chromium';

export const BIN = fileURLToPath(new URL('../../bin/poc.js', import.meta.url));

/** Throws (failing the test, never skipping it) when SwiftShader is missing. */
export function requireSwiftShader(): void {
  if (!existsSync(SWIFTSHADER_ICD)) throw new Error(`${SWIFTSHADER_ICD} not found: the WebGPU tests need SwiftShader: apt-get install -y chromium`);
}

/**
 * The environment for a child that should see `icd` as its only Vulkan device (the Vulkan
 * loader reads VK_ICD_FILENAMES at start-up, and the loader library path too: a child is needed).
 */
export function vulkanEnv(icd: string = SWIFTSHADER_ICD, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const ld = process.env.LD_LIBRARY_PATH ? `${CHROMIUM_LIBS}:${process.env.LD_LIBRARY_PATH}` : CHROMIUM_LIBS;
  return { ...process.env, VK_ICD_FILENAMES: icd, LD_LIBRARY_PATH: ld, ...extra };
}

/**
 * Runs the CLI in a child with a deadline (a misbehaving Vulkan driver must fail the test, not
 * hang it). stderr lines Dawn prints on its own ("XDG_RUNTIME_DIR is invalid") are dropped.
 */
export function runCliWith(env: NodeJS.ProcessEnv, args: string[], timeoutMs = 240_000): { status: number | null; stdout: string; stderr: string; signal: string | null } {
  const r = spawnSync(process.execPath, [BIN, ...args], { env, encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 << 20 });
  const stderr = r.stderr
    .split('\n')
    .filter((l) => !/XDG_RUNTIME_DIR is invalid/.test(l))
    .join('\n');
  return { status: r.status, stdout: r.stdout, stderr, signal: r.signal };
}

/** A node ES-module snippet run in a child with a deadline; returns its stdout (throws with its stderr on failure). */
export function runNodeSnippet(code: string, env: NodeJS.ProcessEnv, timeoutMs = 240_000): string {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { env, encoding: 'utf8', timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 64 << 20 });
  if (r.status !== 0) throw new Error(`child failed (${r.status ?? r.signal}):\n${r.stderr}`);
  return r.stdout;
}
