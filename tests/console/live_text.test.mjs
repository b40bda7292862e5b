// The run page's live text (console/web/src/util.js, nextLiveText) under node's test
// runner: what a watch's events leave on the page, in the orders they can arrive in.
import assert from "node:assert/strict";
import test from "node:test";

import { NO_LIVE_TEXT, nextLiveText } from "../../console/web/src/util.js";

const delta = (step, text) => ({ seq: "0", textDelta: { step: String(step), text } });
const journaled = (seq, step) => ({ seq: String(seq), stepStarted: { step: String(step), model: "claude-a" } });

const replay = (events) => events.reduce(nextLiveText, NO_LIVE_TEXT);

test("a step's deltas show as its streaming text until its turn is journaled", () => {
  let live = replay([delta(0, "Hello "), delta(0, "world")]);
  assert.deepEqual(live.byStep, { 0: "Hello world" });
  live = nextLiveText(live, journaled(3, 0));
  assert.deepEqual(live.byStep, {});
});

// Live text travels apart from the durable events: the last deltas of a step can come
// after its turn is in the transcript, and must not show it again, cut, as streaming.
test("deltas that come after their step is journaled are not shown again", () => {
  const live = replay([
    journaled(2, 0), // the live start was missed; the turn came first
    delta(0, "Done. ec"),
    delta(1, "Next "),
    delta(0, "ho returned hello"),
    journaled(9, 1),
    delta(1, "step"),
  ]);
  assert.deepEqual(live.byStep, {});
  assert.equal(live.journaled, 1);
});

test("events that change nothing leave the same value", () => {
  const live = replay([delta(2, "x")]);
  for (const e of [{ seq: "4", stateChanged: { state: "RUNNING" } }, { seq: "0", gap: {} },
                   { seq: "0", stepStarted: { step: "3" } }]) {
    assert.equal(nextLiveText(live, e), live);
  }
});
