// One card per server: what it believes (role, term, vote, indexes, its log, its latest
// and committed configurations with their index, its Serf view) and what can be done to
// it. The card is built once and then updated in place, so keyboard focus stays put.

export function fmtTime(us) {
  return `${(us / 1e6).toFixed(3)}s`;
}

const ACTIONS = [
  ["crash", "Crash"],
  ["restart", "Restart"],
  ["pause", "Pause"],
  ["resume", "Resume"],
  ["isolate", "Isolate"],
  ["timeout", "Time out"],
];

function make(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function members(configuration) {
  const names = configuration.servers.map((s) => s.name || `${s.address} (ghost)`);
  return `[${names.join(" ")}] @ index ${configuration.index}`;
}

function build(node, s, hooks) {
  node.replaceChildren();
  const head = make("header");
  head.append(make("h3", "", s.name), make("span", "badge"));
  const addresses = make("p", "addresses quiet");
  const facts = make("dl", "facts");
  const log = make("ol", "log-strip");
  log.setAttribute("aria-label", `${s.name}'s log`);
  const serf = make("p", "serf quiet");
  node.append(head, addresses, facts, make("h4", "", "log"), log, serf);
  if (!hooks.live) return;
  const actions = make("div", "actions");
  for (const [action, label] of ACTIONS) {
    const button = make("button", "", label);
    button.type = "button";
    button.dataset.action = action;
    button.setAttribute("aria-label", `${label} ${s.name}`);
    button.addEventListener("click", () => hooks.act(s.name, action));
    actions.appendChild(button);
  }
  for (const [action, label] of [
    ["remove", "Remove peer"],
    ["force-leave", "Force-leave"],
  ]) {
    const group = make("span", "via");
    const button = make("button", "", label);
    button.type = "button";
    button.dataset.action = action;
    button.setAttribute("aria-label", `${label} ${s.name}`);
    const select = make("select");
    select.setAttribute("aria-label", `${label} of ${s.name}: through which server's API`);
    button.addEventListener("click", () => hooks.act(s.name, action, select.value));
    group.append(button, " via ", select);
    actions.appendChild(group);
  }
  node.appendChild(actions);
}

function fact(dl, name, value) {
  dl.append(make("dt", "", name), make("dd", "", String(value)));
}

export function card(node, s, state, hooks) {
  if (node.dataset.built !== String(hooks.live)) {
    build(node, s, hooks);
    node.dataset.built = String(hooks.live);
    node.seen = "";
  }
  // Rebuilding a card is the page's costliest work: only when what it shows changed.
  const seen = JSON.stringify([s, state.leader, state.servers.length]);
  if (node.seen === seen) return;
  node.seen = seen;
  const role = s.status === "down" ? "-" : s.role;
  node.className = `card role-${role.toLowerCase().replace("-", "none")} status-${s.status}`;
  const badge = node.querySelector(".badge");
  badge.textContent =
    s.status === "down" ? "down" : `${s.role}${s.status === "paused" ? ", paused" : ""}`;
  node.querySelector(".addresses").textContent =
    `raft ${s.address}` + (s.http ? ` · http ${s.http.replace("http://", "")}` : "");
  const facts = node.querySelector(".facts");
  facts.replaceChildren();
  fact(facts, "term", s.term);
  fact(facts, "voted for", s.voted_for || "-");
  fact(facts, "leader", s.leader || "(none)");
  fact(facts, "commit index", s.commit_index);
  fact(facts, "last index", `${s.last_index} (term ${s.last_term})`);
  fact(facts, "latest", members(s.latest));
  fact(facts, "committed", members(s.committed));
  const log = node.querySelector(".log-strip");
  log.replaceChildren(
    ...s.log.map((entry) => {
      const item = make("li", `entry ${entry.kind}`);
      const committed = entry.index <= s.commit_index;
      if (committed) item.classList.add("committed");
      const mark = { configuration: "cfg", noop: "no-op", command: entry.data || "cmd" }[entry.kind];
      item.append(make("b", "", String(entry.index)), make("span", "", `t${entry.term}`));
      item.append(make("span", "kind", mark));
      item.title = `index ${entry.index}, term ${entry.term}, ${entry.kind}${
        committed ? ", committed" : ", not committed"
      }`;
      return item;
    }),
  );
  const serf = node.querySelector(".serf");
  serf.textContent = s.serf
    ? `Serf: ${s.serf.map((m) => `${m.name} ${m.status}`).join(", ") || "(down)"}`
    : "";
  for (const select of node.querySelectorAll(".via select")) {
    const names = state.servers.map((x) => x.name);
    const prefer = state.leader && state.leader !== s.name ? state.leader : null;
    if ([...select.options].map((o) => o.value).join() !== names.join()) {
      select.replaceChildren(...names.map((n) => new Option(n, n)));
      select.value = prefer || names.find((n) => n !== s.name) || s.name;
    }
  }
}
