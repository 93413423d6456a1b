import { homedir } from 'node:os';
import { join } from 'node:path';

/** Where the hub is and who we are: read once from the environment, overridable in tests. */
export interface HubSettings {
  /** base URL of the hub, no trailing slash (HF_ENDPOINT; default https://huggingface.co) */
  endpoint: string;
  /** access token (HF_TOKEN), or undefined for anonymous access */
  token: string | undefined;
  /** root of the standard cache: HF_HUB_CACHE, else $HF_HOME/hub, else ~/.cache/huggingface/hub */
  cacheDir: string;
  /** HF_HUB_OFFLINE: never touch the network, serve complete cached snapshots only */
  offline?: boolean;
}

/**
 * Hub settings from the same environment variables huggingface_hub reads, so a cache
 * filled by Python is reused here and the other way round.
 */
export function hubSettingsFromEnv(env: NodeJS.ProcessEnv = process.env): HubSettings {
  const endpoint = (env.HF_ENDPOINT?.trim() || 'https://huggingface.co').replace(/\/+$/, '');
  const token = env.HF_TOKEN?.trim() || env.HUGGING_FACE_HUB_TOKEN?.trim() || undefined;
  const hfHome = env.HF_HOME?.trim() || join(env.XDG_CACHE_HOME?.trim() || join(homedir(), '.cache'), 'huggingface');
  const cacheDir = env.HF_HUB_CACHE?.trim() || env.HUGGINGFACE_HUB_CACHE?.trim() || join(hfHome, 'hub');
  const offline = ['1', 'true', 'yes', 'on'].includes((env.HF_HUB_OFFLINE ?? '').trim().toLowerCase());
  return { endpoint, token, cacheDir, ...(offline ? { offline } : {}) };
}
