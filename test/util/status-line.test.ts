import { describe, expect, it } from 'vitest';
import { createStatusLine, LOG_LINE_INTERVAL_MS } from '../../src/util/status-line.js';
import { createProgress } from '../../src/analyze/progress.js';
import { createCaptureProgress } from '../../src/capture/progress.js';
import { stderrProgress } from '../../src/hub/progress.js';

/** A stream that records what is written, and a clock the test moves by hand. */
function fakes(isTTY: boolean) {
  const writes: string[] = [];
  let ms = 1_000_000;
  return {
    stream: { isTTY, write: (s: string) => { writes.push(s); return true; } },
    writes,
    now: () => ms,
    advance: (by: number) => { ms += by; },
    /** whole lines, for a log stream */
    lines: () => writes.join('').split('\n').filter((l) => l !== ''),
  };
}

const BAR = /^\[[#.]{24}\] (\d+)\/88 units {2}([\d.]+|-) s\/unit {2}ETA \S+$/;

describe('status line without a terminal (a log)', () => {
  it('the demo\'s 88 units in 20 s: a line at most every 10 s plus the last one, with the terminal\'s fields', () => {
    const log = fakes(false);
    const tty = fakes(true);
    const inLog = createProgress(88, log.stream, false, log.now);
    const onTty = createProgress(88, tty.stream, false, tty.now);
    const shownAt: number[] = [];
    for (let i = 0; i < 88; i++) {
      log.advance(227); tty.advance(227); // 88 units in 20 s
      const before = log.writes.length;
      inLog.tick(); onTty.tick();
      if (log.writes.length > before) shownAt.push(log.now());
    }
    inLog.done(); onTty.done();
    const lines = log.lines();
    // the first unit (0.2 s), the first unit after 10 s (unit 46 at 10.4 s), then the last state
    expect(lines.map((l) => l.match(BAR)![1])).toEqual(['1', '46', '88']);
    for (let i = 1; i < shownAt.length; i++) expect(shownAt[i]! - shownAt[i - 1]!).toBeGreaterThanOrEqual(LOG_LINE_INTERVAL_MS);
    for (const l of lines) expect(l).toMatch(BAR);
    expect(lines[0]).toMatch(/^\[\.{24}\] 1\/88 units/);
    expect(lines.at(-1)).toMatch(/^\[#{24}\] 88\/88 units {2}0\.23 s\/unit {2}ETA 0s$/);
    // no terminal control characters in a log
    expect(log.writes.join('')).not.toMatch(/[\r\x1b]/);
    // the terminal still redraws at every unit, with the same text the log's last line has
    expect(tty.writes.filter((w) => w.startsWith('\r')).length).toBe(88);
    expect(tty.writes.at(-2)).toBe(`\r${lines.at(-1)}\x1b[K`);
    expect(tty.writes.at(-1)).toBe('\n');
  });

  it('slow units (one per 30 s) each get their line; the final state is not written twice', () => {
    const log = fakes(false);
    const p = createProgress(5, log.stream, false, log.now);
    for (let i = 0; i < 5; i++) { log.advance(30_000); p.tick(); }
    p.done();
    expect(log.lines().map((l) => l.match(/(\d+)\/5 units/)![1])).toEqual(['1', '2', '3', '4', '5']);
  });

  it('an interrupted run logs where it stopped', () => {
    const log = fakes(false);
    const p = createProgress(100, log.stream, false, log.now);
    for (let i = 0; i < 37; i++) { log.advance(100); p.tick(); }
    p.done();
    expect(log.lines().map((l) => l.match(/(\d+)\/100 units/)![1])).toEqual(['1', '37']);
  });

  it('quiet or empty progress writes nothing', () => {
    const log = fakes(false);
    const quiet = createProgress(10, log.stream, true, log.now);
    quiet.tick(); quiet.done();
    const empty = createProgress(0, log.stream, false, log.now);
    empty.done();
    expect(log.writes).toEqual([]);
  });
});

describe('capture progress', () => {
  it('in a log: prompt lines at most every 10 s, the last prompt always; mid-prompt updates obey the same limit', () => {
    const log = fakes(false);
    const p = createCaptureProgress(22, log.stream, log.now);
    for (let j = 0; j < 22; j++) {
      for (let t = 1; t <= 4; t++) { log.advance(25); p.update(`task p${j}`, t * 256); }
      p.promptDone(`task p${j}`, 'written', 1024);
    }
    p.end();
    p.end(); // called on two paths in run-capture: idempotent
    const lines = log.lines();
    // 2.2 s in all: the first update, then the final state only
    expect(lines.length).toBe(2);
    expect(lines[0]).toMatch(/^\[\.{20}\] 0\/22 prompts {2}task p0 {2}\d+ tok\/s {2}ETA -$/);
    expect(lines[1]).toMatch(/^\[#{20}\] 22\/22 prompts {2}task p21 written {2}\d+ tok\/s {2}ETA 0s$/);
  });

  it('with the prompt length: the prompt\'s percentage and an ETA before the first prompt ends', () => {
    const log = fakes(false);
    const p = createCaptureProgress(3, log.stream, log.now);
    // a quarter of the first prompt in 100 s: 400 s per prompt, 1100 s left of 3 prompts
    log.advance(100_000);
    p.update('task p0', 4096, 16384);
    expect(log.lines()[0]).toMatch(/^\[\.{20}\] 0\/3 prompts {2}task p0 25% {2}\d+ tok\/s {2}ETA 18m20s$/);
    // after that prompt (400 s in all), the ETA is 2 prompts at 400 s; a skipped prompt leaves it
    log.advance(300_000);
    p.promptDone('task p0', 'written', 16384);
    p.promptDone('task p1', 'skipped', 0);
    expect(log.lines().at(-1)).toMatch(/1\/3|2\/3/);
    log.advance(11_000);
    p.update('task p2', 0, 16384);
    expect(log.lines().at(-1)).toMatch(/2\/3 prompts {2}task p2 0% {2}\d+ tok\/s {2}ETA 6m51s$/);
  });

  it('on a terminal: redraws every prompt done, and prefill updates at most every 200 ms', () => {
    const tty = fakes(true);
    const p = createCaptureProgress(2, tty.stream, tty.now);
    for (let t = 0; t < 10; t++) { tty.advance(50); p.update('a p0', t * 100); }
    p.promptDone('a p0', 'written', 1000);
    p.promptDone('a p1', 'skipped', 0);
    p.end();
    const draws = tty.writes.filter((w) => w.startsWith('\r'));
    // updates at 50 ms (first), 250, 450 (200 ms apart), then the two prompts
    expect(draws.length).toBe(3 + 2);
    expect(draws.at(-1)).toMatch(/2\/2 prompts {2}a p1 skipped/);
    expect(tty.writes.at(-1)).toBe('\n');
  });
});

describe('download progress', () => {
  it('in a log: a line every 10 s of a long download and the final one with the elapsed time', () => {
    const log = fakes(false);
    const p = stderrProgress('model.onnx', 100 * 2 ** 20, 0, log.stream, log.now);
    for (let s = 0; s < 100; s++) { log.advance(250); p.advance(2 ** 20); } // 1 MiB per 250 ms
    p.done();
    const lines = log.lines();
    expect(lines.length).toBe(1 + 2 + 1); // first chunk, at 10 s and 20 s, final
    expect(lines[0]).toBe('model.onnx [........................]   1% 1.00 MiB/100.0 MiB');
    expect(lines.at(-1)).toBe('model.onnx [########################] 100% 100.0 MiB/100.0 MiB 25.0s');
  });

  it('on a terminal: at most 10 redraws a second', () => {
    const tty = fakes(true);
    const p = stderrProgress('f', 1000, 0, tty.stream, tty.now);
    for (let i = 0; i < 100; i++) { tty.advance(10); p.advance(10); } // 1 s
    p.done();
    const draws = tty.writes.filter((w) => w.startsWith('\r'));
    expect(draws.length).toBe(10 + 1);
    expect(draws.at(-1)).toBe('\rf [########################] 100% 1000 B/1000 B 1.0s\x1b[K');
  });
});

describe('createStatusLine', () => {
  it('takes the interval from its options and renders text only when it writes', () => {
    const log = fakes(false);
    let renders = 0;
    const line = createStatusLine({ stream: log.stream, now: log.now, logLineMs: 1000 });
    for (let i = 0; i < 50; i++) { log.advance(100); line.update(() => `n ${++renders}`); }
    line.finish();
    // shown at 100 ms, 1100, 2100, 3100, 4100 ms, then the last state (at 5000 ms)
    expect(log.lines()).toEqual(['n 1', 'n 2', 'n 3', 'n 4', 'n 5', 'n 6']);
  });
});
