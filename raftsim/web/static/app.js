// The live page: the stage (ring.js), a card per server, the controls, the narration, the
// ask panel and the lessons. Everything shown comes from the control surface: the state
// (GET /v1/sim/state, fetched again whenever events arrive) and the event stream, whose
// captions are written by the simulator, not guessed here.

import { ApiError, EventStream, get, post } from "./api.js";
import { Ring } from "./ring.js";
import { card, fmtTime } from "./cards.js";

const $ = (id) => document.getElementById(id);
const LOG_LINES = 60;
const REFRESH_MS = 100; // at most ten state fetches a second while events arrive
const IDLE_REFRESH_MS = 1000;
const QUIET_KINDS = new Set(["timer"]);
// The controls of the live cluster, off while a lesson (a cluster of its own) is shown.
const LIVE_ONLY = ["play", "speed", "step", "until", "next", "scrub", "seed", "reset"];

const page = {
  state: null, // the live cluster's, or the lesson's while a lesson is open
  fetchedAt: 0, // performance.now() when `state` arrived
  lesson: null,
  refreshing: false,
  again: false,
  lastRefresh: 0,
  sampledAt: 0,
};

const ring = new Ring($("ring"), (name) => {
  const target = document.getElementById(`server-${name}`);
  if (target) {
    target.scrollIntoView({ behavior: "smooth", block: "nearest" });
    target.querySelector("button")?.focus();
  }
});

// ------------------------------------------------------------ errors and narration

function showError(error) {
  const box = $("error");
  if (!error) {
    box.hidden = true;
    return;
  }
  box.hidden = false;
  box.textContent = error instanceof ApiError ? `${error.status}: ${error.message}` : String(error);
}

async function attempt(action) {
  try {
    showError(null);
    return await action();
  } catch (error) {
    showError(error);
    return null;
  }
}

function narrate(text, time) {
  $("caption").textContent = text;
  const item = document.createElement("li");
  const when = document.createElement("time");
  when.textContent = time === undefined ? "" : fmtTime(time);
  item.append(when, ` ${text}`);
  const log = $("log");
  log.prepend(item);
  while (log.children.length > LOG_LINES) log.lastChild.remove();
}

// ------------------------------------------------------------ the state

function virtualNow() {
  const s = page.state;
  if (!s) return 0;
  const clock = s.clock;
  if (page.lesson || !clock || clock.mode !== "paced") return s.time_us;
  const elapsed = performance.now() - page.fetchedAt;
  return s.time_us + Math.min(elapsed, 2000) * clock.speed * 1000;
}

function show(state) {
  page.state = state;
  page.fetchedAt = performance.now();
  ring.update(state);
  renderCards(state);
  renderControls(state);
}

async function refresh() {
  if (page.lesson) return;
  if (page.refreshing) {
    page.again = true;
    return;
  }
  page.refreshing = true;
  try {
    do {
      page.again = false;
      page.lastRefresh = performance.now();
      const state = await get("/v1/sim/state");
      if (!page.lesson) show(state);
    } while (page.again);
  } catch (error) {
    showError(error);
  } finally {
    page.refreshing = false;
  }
}

let pending = null;
function refreshSoon() {
  if (pending !== null) return;
  const wait = Math.max(0, REFRESH_MS - (performance.now() - page.lastRefresh));
  pending = setTimeout(() => {
    pending = null;
    refresh();
  }, wait);
}

// ------------------------------------------------------------ the servers' cards

function renderCards(state) {
  const box = $("servers");
  const known = new Set(state.servers.map((s) => s.name));
  for (const child of [...box.children]) {
    if (!known.has(child.dataset.name)) child.remove();
  }
  for (const s of state.servers) {
    let node = document.getElementById(`server-${s.name}`);
    if (!node) {
      node = document.createElement("article");
      node.id = `server-${s.name}`;
      node.dataset.name = s.name;
      node.className = "card";
      box.appendChild(node);
    }
    card(node, s, state, { live: !page.lesson, act: serverAction });
  }
}

function serverAction(name, action, via) {
  const server = page.state.servers.find((s) => s.name === name);
  return attempt(async () => {
    if (action === "isolate") {
      const rest = page.state.servers.map((s) => s.name).filter((n) => n !== name);
      show(await post("/v1/sim/partition", { groups: [[name], rest] }));
    } else if (action === "remove") {
      // Protocol 3 (Nomad 1.10) removes by ID only; the older releases by address.
      const query = page.state.raft_protocol >= 3
        ? `id=${encodeURIComponent(server.id)}`
        : `address=${encodeURIComponent(server.address)}`;
      const path = `/v1/operator/raft/peer?${query}`;
      const answer = await post(`/v1/sim/servers/${via}/http`, withToken({ method: "DELETE", path }));
      showAnswers([answer], `DELETE ${path}`);
    } else if (action === "force-leave") {
      const path = `/v1/agent/force-leave?node=${encodeURIComponent(`${name}.global`)}`;
      const answer = await post(`/v1/sim/servers/${via}/http`, withToken({ method: "PUT", path }));
      showAnswers([answer], `PUT ${path}`);
    } else {
      show(await post(`/v1/sim/servers/${name}/${action}`));
    }
    refreshSoon();
  });
}

// ------------------------------------------------------------ the clock and time slider

function speedOf(slider) {
  return Math.round(10 ** Number(slider.value) * 100) / 100;
}

function renderControls(state) {
  $("version").textContent = state.nomad_version
    ? `Nomad ${state.nomad_version}, Raft protocol ${state.raft_protocol} ` +
      `(${state.raft_library}, profile ${state.raft_profile}), seed ${state.seed}`
    : `lesson cluster, Raft ${state.raft_profile}, seed ${state.seed}`;
  if (page.lesson) return;
  const clock = state.clock;
  const running = clock.mode !== "paused";
  $("play").textContent = running ? "Pause" : "Play";
  $("play").setAttribute("aria-pressed", String(!running));
  const scrub = $("scrub");
  scrub.max = String(state.horizon_us);
  if (document.activeElement !== scrub) scrub.value = String(state.time_us);
  $("scrub-shown").textContent = fmtTime(Number(scrub.value));
  $("horizon").textContent = `of ${fmtTime(state.horizon_us)}`;
  if (document.activeElement !== $("seed")) $("seed").value = String(state.seed);
  $("acl-row").hidden = !(state.acl && state.acl.enabled);
  const names = state.servers.map((s) => s.name);
  fillSelect($("cut-from"), names);
  fillSelect($("cut-to"), names, 1);
  renderGroups(names);
}

function fillSelect(select, names, first = 0) {
  if ([...select.options].map((o) => o.value).join() === names.join()) return;
  const keep = select.value;
  select.replaceChildren(...names.map((n) => new Option(n, n)));
  select.value = names.includes(keep) ? keep : names[Math.min(first, names.length - 1)];
}

function renderGroups(names) {
  const box = $("groups");
  if (box.dataset.names === names.join()) return;
  box.dataset.names = names.join();
  box.replaceChildren(
    ...names.map((name, i) => {
      const label = document.createElement("label");
      const select = document.createElement("select");
      select.dataset.name = name;
      for (const side of ["A", "B", "C"]) select.add(new Option(`side ${side}`, side));
      select.value = i < Math.ceil(names.length / 2) ? "A" : "B";
      label.append(`${name} `, select);
      return label;
    }),
  );
}

async function setClock(body) {
  await attempt(async () => {
    await post("/v1/sim/clock", body);
    await refresh();
  });
}

function wireControls() {
  $("play").addEventListener("click", () => {
    const running = page.state && page.state.clock.mode !== "paused";
    setClock(running ? { mode: "paused" } : { mode: "paced", speed: speedOf($("speed")) });
  });
  $("speed").addEventListener("input", () => {
    $("speed-shown").textContent = `${speedOf($("speed"))}x`;
  });
  $("speed").addEventListener("change", () => {
    const paused = page.state && page.state.clock.mode === "paused";
    setClock({ mode: paused ? "paused" : "paced", speed: speedOf($("speed")) });
  });
  $("step").addEventListener("click", () =>
    attempt(async () => {
      show(await post("/v1/sim/step", { until: "event" }));
    }),
  );
  $("next").addEventListener("click", () =>
    attempt(async () => {
      const state = await post("/v1/sim/step", { until: $("until").value });
      show(state);
      if (!state.reached) narrate(`no ${$("until").value} within a minute of virtual time`);
    }),
  );
  $("scrub").addEventListener("input", () => {
    $("scrub-shown").textContent = fmtTime(Number($("scrub").value));
  });
  $("scrub").addEventListener("change", () =>
    attempt(async () => {
      ring.clearFlights();
      show(await post("/v1/sim/replay", { time_us: Number($("scrub").value) }));
    }),
  );
  $("reset").addEventListener("click", () =>
    attempt(async () => {
      ring.clearFlights();
      show(await post("/v1/sim/reset", { seed: Number($("seed").value) }));
    }),
  );
  $("messages").addEventListener("change", () => {
    ring.clearFlights();
    stream.restart($("messages").checked);
  });
  $("large").addEventListener("change", () => {
    document.body.classList.toggle("large", $("large").checked);
  });
  $("partition").addEventListener("click", () =>
    attempt(async () => {
      const sides = new Map();
      for (const select of $("groups").querySelectorAll("select")) {
        if (!sides.has(select.value)) sides.set(select.value, []);
        sides.get(select.value).push(select.dataset.name);
      }
      show(await post("/v1/sim/partition", { groups: [...sides.values()] }));
    }),
  );
  $("heal").addEventListener("click", () => attempt(async () => show(await post("/v1/sim/heal"))));
  $("cut").addEventListener("click", () =>
    attempt(async () => {
      show(await post("/v1/sim/cut", { from: $("cut-from").value, to: $("cut-to").value }));
    }),
  );
  $("propose-form").addEventListener("submit", (event) => {
    event.preventDefault();
    $("client-answer").textContent = "waiting for the commit…";
    attempt(async () => {
      try {
        const out = await post("/v1/sim/propose", { data: $("command").value });
        $("client-answer").textContent = `committed at index ${out.result.Index}`;
        show(out.state);
      } catch (error) {
        $("client-answer").textContent = `refused: ${error.message}`;
      }
    });
  });
  $("add-server").addEventListener("click", () =>
    attempt(async () => {
      const out = await post("/v1/sim/servers", {});
      $("client-answer").textContent = "a new server starts and joins";
      if (out && out.servers) show(out);
    }),
  );
  $("ask-all").addEventListener("click", askAll);
  $("lesson-start").addEventListener("click", () => startLesson($("lesson").value));
  $("lesson-next").addEventListener("click", lessonStep);
  $("lesson-leave").addEventListener("click", leaveLesson);
  document.addEventListener("keydown", (event) => {
    const tag = event.target.tagName;
    if (["INPUT", "SELECT", "TEXTAREA", "BUTTON"].includes(tag) || event.ctrlKey) return;
    if (event.key === " ") {
      event.preventDefault();
      $("play").click();
    } else if (event.key === "s") $("step").click();
    else if (event.key === "n") $("next").click();
  });
}

// ------------------------------------------------------------ ask

// A request through a server's own API carries the ACL token typed in, if any.
function withToken(body) {
  const token = $("acl-token").value.trim();
  return token ? { ...body, token } : body;
}

async function askAll() {
  await attempt(async () => {
    const path = $("ask-path").value + ($("ask-stale").checked ? "?stale" : "");
    $("answers").textContent = `asking every server for ${path}…`;
    const names = page.state.servers.map((s) => s.name);
    const answers = await Promise.all(
      names.map((name) =>
        post(`/v1/sim/servers/${name}/http`, withToken({ method: "GET", path })).catch((error) => ({
          server: name,
          status: null,
          error: error.message,
        })),
      ),
    );
    showAnswers(answers, `GET ${path}`);
  });
}

function showAnswers(answers, what) {
  const box = $("answers");
  const heading = document.createElement("p");
  heading.textContent = what;
  const row = document.createElement("div");
  row.className = "answer-row";
  for (const a of answers) {
    const column = document.createElement("figure");
    column.className = `answer ${a.status === 200 ? "ok" : "failed"}`;
    column.dataset.server = a.server;
    const title = document.createElement("figcaption");
    title.textContent = `${a.server}: ${a.status === null ? "no answer" : a.status}`;
    const body = document.createElement("pre");
    body.textContent = a.status === null ? a.error : pretty(a.body);
    column.append(title, body);
    row.appendChild(column);
  }
  box.replaceChildren(heading, row);
}

function pretty(text) {
  try {
    return JSON.stringify(JSON.parse(text), null, 1);
  } catch {
    return text;
  }
}

// ------------------------------------------------------------ lessons

async function loadLessons() {
  const out = await get("/v1/sim/lessons");
  const select = $("lesson");
  select.replaceChildren(...out.lessons.map((l) => new Option(`${l.name}: ${l.title}`, l.name)));
  $("lesson-start").disabled = out.lessons.length === 0;
}

async function startLesson(name) {
  await attempt(async () => {
    const step = await post(`/v1/sim/lessons/${encodeURIComponent(name)}`);
    page.lesson = name;
    ring.clearFlights();
    $("log").replaceChildren();
    $("lesson-banner").hidden = false;
    $("lesson-name").textContent = name;
    document.body.classList.add("in-lesson");
    for (const id of LIVE_ONLY) $(id).disabled = true;
    showLessonStep(step);
  });
}

async function lessonStep() {
  await attempt(async () => showLessonStep(await post("/v1/sim/lesson/step")));
}

function showLessonStep(step) {
  $("lesson-progress").textContent = `command ${step.step} of ${step.steps}`;
  $("lesson-next").disabled = step.done;
  const box = $("lesson-text");
  const notes = document.createElement("div");
  notes.className = "lesson-notes";
  // The comment lines are wrapped paragraphs; an empty `#` line separates two.
  for (const paragraph of step.comments.join("\n").split(/\n\s*\n/)) {
    const p = document.createElement("p");
    p.textContent = paragraph.replace(/\s*\n\s*/g, " ").trim();
    if (p.textContent) notes.appendChild(p);
  }
  const command = document.createElement("pre");
  command.className = "lesson-command";
  command.textContent = step.command ? `> ${step.command}\n${step.output.join("\n")}` : "";
  box.replaceChildren(notes, command);
  for (const event of step.events.slice(-LOG_LINES)) narrate(event.caption, event.t);
  const said = [...notes.children].map((p) => p.textContent).join(" ");
  if (said) $("caption").textContent = said;
  show(step.state);
}

function leaveLesson() {
  page.lesson = null;
  $("lesson-banner").hidden = true;
  document.body.classList.remove("in-lesson");
  for (const id of LIVE_ONLY) $(id).disabled = false;
  $("log").replaceChildren();
  refresh();
}

// ------------------------------------------------------------ the event stream

const stream = new EventStream(
  (event) => {
    if (page.lesson) return;
    if (event.message) {
      ring.message(event);
      return;
    }
    if (QUIET_KINDS.has(event.event)) return; // a timer firing says nothing by itself
    narrate(event.caption, event.t);
    if (event.event === "reset") ring.clearFlights();
    refreshSoon();
  },
  (connected, error) => {
    if (!connected && error) showError(error);
  },
);

function frame() {
  const now = performance.now();
  const vnow = virtualNow();
  ring.drawTimers(vnow);
  const speed = page.state && page.state.clock ? page.state.clock.speed : 1;
  ring.drawFlights(now, speed);
  if (page.state) $("now").textContent = fmtTime(vnow);
  if (!page.lesson && now - page.lastRefresh > IDLE_REFRESH_MS) refreshSoon();
  if (now - page.sampledAt > 1000) {
    const share = ring.sampled();
    page.sampledAt = now;
    $("sampling").textContent =
      share < 1 ? `showing about 1 message in ${Math.round(1 / share)}` : "";
  }
  requestAnimationFrame(frame);
}

async function main() {
  wireControls();
  $("speed-shown").textContent = `${speedOf($("speed"))}x`;
  await attempt(refresh);
  await attempt(loadLessons);
  if (page.state && page.state.clock) {
    const speed = Math.max(0.1, Math.min(100, page.state.clock.speed));
    $("speed").value = String(Math.log10(speed));
    $("speed-shown").textContent = `${speedOf($("speed"))}x`;
  }
  stream.start();
  requestAnimationFrame(frame);
}

main();
