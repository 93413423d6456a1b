import { describe, expect, it } from 'vitest';
import { formatBytes, formatDuration } from '../../src/util/format.js';

describe('format', () => {
  it('prints sizes in binary units with 2 decimals below 10', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(2048)).toBe('2.00 KiB');
    expect(formatBytes(1536 * 1024)).toBe('1.50 MiB');
    expect(formatBytes(268435456)).toBe('256.0 MiB');
  });
  it('prints durations as h/m/s and - for unknown', () => {
    expect(formatDuration(3725)).toBe('1h02m');
    expect(formatDuration(75)).toBe('1m15s');
    expect(formatDuration(9.6)).toBe('10s');
    expect(formatDuration(NaN)).toBe('-');
  });
});
