// Live updates by short polling (docs/console.md, "Live updates"): live.every(ms, fn) calls fn
// every ms while the page is shown and the tab is visible, one call at a time, backing off after
// errors; every timer of a page stops when the page is left (the router calls stopAll()).
export function createLive() {
  const timers = new Set();
  let stopped = false;

  function every(ms, fn) {
    const timer = { handle: null, active: true, failures: 0 };
    timers.add(timer);
    const schedule = () => {
      if (!timer.active || stopped) return;
      const delay = Math.min(ms * 2 ** timer.failures, 60000);
      timer.handle = setTimeout(tick, delay);
    };
    const tick = async () => {
      if (!timer.active || stopped) return;
      if (document.hidden) { schedule(); return; }
      try {
        await fn();
        timer.failures = 0;
      } catch (e) {
        timer.failures = Math.min(timer.failures + 1, 5);
        console.warn('live update failed', e);
      }
      schedule();
    };
    schedule();
    return () => { timer.active = false; clearTimeout(timer.handle); timers.delete(timer); };
  }

  function stopAll() {
    stopped = true;
    for (const timer of timers) { timer.active = false; clearTimeout(timer.handle); }
    timers.clear();
  }

  return { every, stopAll };
}
