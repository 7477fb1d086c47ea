// Whether the user is at this device (docs/protocol.md, "Presence"): idle while the page is
// hidden or after `idleAfterMs` (2 minutes) without input; active again at the next input or
// when the page is shown. `onChange(idle)` is called on each change only; the app tells the chat
// client, which says so in a heartbeat. Timers and the clock are injected (tests/js/).

export const IDLE_AFTER_MS = 2 * 60 * 1000;

export class ActivityMonitor {
  constructor({ onChange, timers = globalThis, now = () => Date.now(), idleAfterMs = IDLE_AFTER_MS, hidden = false }) {
    this.onChange = onChange;
    this.timers = timers;
    this.now = now;
    this.idleAfterMs = idleAfterMs;
    this.hidden = hidden;
    this.lastInput = now();
    this.idle = hidden;
    this.timer = null;
    this._schedule();
  }

  /** A key, a click, a touch, a scroll: cheap, called for every such event. */
  input() {
    this.lastInput = this.now();
    this._update();
  }

  setHidden(hidden) {
    this.hidden = Boolean(hidden);
    if (!this.hidden) this.lastInput = this.now(); // coming back to the page is an input
    this._update();
  }

  stop() {
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
  }

  _update() {
    const idle = this.hidden || this.now() - this.lastInput >= this.idleAfterMs;
    if (idle !== this.idle) {
      this.idle = idle;
      this.onChange(idle);
    }
    if (this.timer === null && !idle) this._schedule();
  }

  // one timer at a time, set for when the input seen so far runs out (not reset on each input)
  _schedule() {
    const due = Math.max(0, this.lastInput + this.idleAfterMs - this.now());
    this.timer = this.timers.setTimeout(() => {
      this.timer = null;
      this._update();
    }, due);
  }
}
