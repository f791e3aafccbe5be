// The stage: servers on a ring (a grid beyond nine), the links between them with any
// partition or cut drawn on them, each server's election timer as a draining arc, and the
// messages in flight. Roles are told by shape and by word, never by colour alone.

const NS = "http://www.w3.org/2000/svg";
const SIZE = 600;
const FLIGHT_MS = 320; // wall time a message takes to cross (so that it can be seen)
const MAX_FLIGHTS = 150;
// New messages drawn per second at most: a fast clock sends thousands (nine servers at 10x),
// more than anyone can follow and than a frame can build; the rest are counted, not drawn.
const FLIGHTS_PER_S = 60;

function el(name, attrs = {}, parent = null) {
  const node = document.createElementNS(NS, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (parent) parent.appendChild(node);
  return node;
}

function layout(count) {
  if (count <= 9) {
    const radius = count === 1 ? 0 : 210;
    return Array.from({ length: count }, (_, i) => {
      const angle = -Math.PI / 2 + (2 * Math.PI * i) / count;
      return [SIZE / 2 + radius * Math.cos(angle), SIZE / 2 + radius * Math.sin(angle)];
    });
  }
  const columns = Math.ceil(Math.sqrt(count));
  const rows = Math.ceil(count / columns);
  const step = SIZE / Math.max(columns, rows);
  return Array.from({ length: count }, (_, i) => [
    step / 2 + (i % columns) * step,
    step / 2 + Math.floor(i / columns) * step,
  ]);
}

function arcPath(cx, cy, r, fraction) {
  const f = Math.max(0, Math.min(0.9999, fraction));
  if (f <= 0) return "";
  const end = -Math.PI / 2 + 2 * Math.PI * f;
  const x = cx + r * Math.cos(end);
  const y = cy + r * Math.sin(end);
  return `M ${cx} ${cy - r} A ${r} ${r} 0 ${f > 0.5 ? 1 : 0} 1 ${x.toFixed(1)} ${y.toFixed(1)}`;
}

const ROLE_MARK = { Leader: "★", Candidate: "?", Follower: "", "-": "" };

export class Ring {
  constructor(svg, onPick) {
    this.svg = svg;
    this.onPick = onPick;
    this.names = [];
    this.places = new Map(); // name -> [x, y]
    this.ids = new Map(); // server ID -> name
    this.glyphs = new Map();
    this.flights = [];
    this.budget = FLIGHTS_PER_S;
    this.refilled = performance.now();
    this.sent = 0; // messages sent since the last sampling report
    this.drawn = 0;
    this.state = null;
    this.radius = 40;
    this.links = el("g", { class: "links" }, svg);
    this.servers = el("g", { class: "servers" }, svg);
    this.messages = el("g", { class: "messages" }, svg);
  }

  update(state) {
    this.state = state;
    const names = state.servers.map((s) => s.name);
    if (names.join() !== this.names.join()) this.build(names);
    for (const s of state.servers) this.ids.set(s.id, s.name);
    this.drawLinks(state);
    for (const s of state.servers) this.drawServer(s, state);
  }

  build(names) {
    this.names = names;
    this.linksSeen = "";
    this.places.clear();
    this.glyphs.clear();
    this.servers.replaceChildren();
    this.radius = names.length <= 9 ? Math.min(58, 320 / Math.max(names.length, 3)) : 30;
    layout(names.length).forEach((place, i) => this.places.set(names[i], place));
    for (const name of names) {
      const [x, y] = this.places.get(name);
      const r = this.radius;
      const g = el("g", { class: "server", tabindex: "0", role: "button" }, this.servers);
      g.dataset.name = name;
      const shape = el("circle", { cx: x, cy: y, r, class: "body" }, g);
      const ring = el("circle", { cx: x, cy: y, r: r + 6, class: "leader-ring" }, g);
      const arc = el("path", { class: "timer" }, g);
      const title = el("text", { x, y: y - r * 0.28, class: "name" }, g);
      const role = el("text", { x, y: y + r * 0.12, class: "role" }, g);
      const term = el("text", { x, y: y + r * 0.48, class: "term" }, g);
      const vote = el("text", { x, y: y + r + 22, class: "vote" }, g);
      const label = el("title", {}, g);
      g.addEventListener("click", () => this.onPick(name));
      g.addEventListener("keydown", (e) => {
        if (e.key === "Enter" || e.key === " ") {
          e.preventDefault();
          this.onPick(name);
        }
      });
      this.glyphs.set(name, { g, shape, ring, arc, title, role, term, vote, label, x, y });
    }
  }

  drawServer(s, state) {
    const glyph = this.glyphs.get(s.name);
    if (!glyph) return;
    const status = s.status;
    const role = status === "down" ? "-" : s.role;
    glyph.g.setAttribute(
      "class",
      `server role-${role.toLowerCase().replace("-", "none")} status-${status}`,
    );
    glyph.title.textContent = `${ROLE_MARK[role] || ""}${s.name}`;
    glyph.role.textContent =
      status === "down" ? "✕ down" : status === "paused" ? `⏸ ${role}` : role;
    glyph.term.textContent = status === "down" ? `term ${s.term}` : `term ${s.term}`;
    glyph.vote.textContent = s.voted_for ? `voted ${s.voted_for}` : "";
    glyph.label.textContent =
      `${s.name}: ${status}, ${role}, term ${s.term}` +
      (s.voted_for ? `, voted for ${s.voted_for}` : "") +
      `, commit ${s.commit_index}, latest configuration index ${s.latest.index}`;
    glyph.g.setAttribute("aria-label", glyph.label.textContent);
  }

  drawLinks(state) {
    const seen = `${this.names.join()}|${state.network.blocked.join()}`;
    if (seen === this.linksSeen) return;
    this.linksSeen = seen;
    this.links.replaceChildren();
    const blocked = new Set(state.network.blocked);
    const names = this.names;
    for (let i = 0; i < names.length; i++) {
      for (let j = i + 1; j < names.length; j++) {
        const a = names[i];
        const b = names[j];
        const [x1, y1] = this.places.get(a);
        const [x2, y2] = this.places.get(b);
        const ab = blocked.has(`${a}->${b}`);
        const ba = blocked.has(`${b}->${a}`);
        const kind = ab && ba ? "cut-both" : ab || ba ? "cut-one" : "open";
        el("line", { x1, y1, x2, y2, class: `link ${kind}` }, this.links);
        if (kind === "open") continue;
        // The mark sits nearer the end that stops hearing: ✕ both ways, ⊘ one way.
        const t = kind === "cut-both" ? 0.5 : ab ? 0.7 : 0.3;
        const mark = el(
          "text",
          { x: x1 + (x2 - x1) * t, y: y1 + (y2 - y1) * t, class: `cutmark ${kind}` },
          this.links,
        );
        mark.textContent = kind === "cut-both" ? "✕" : "⊘";
        el("title", {}, mark).textContent =
          kind === "cut-both" ? `${a} and ${b} cannot talk` : ab ? `${a} ↛ ${b}` : `${b} ↛ ${a}`;
      }
    }
  }

  // The election timer arcs, at virtual time `vnow` (µs).
  drawTimers(vnow) {
    if (!this.state) return;
    for (const s of this.state.servers) {
      const glyph = this.glyphs.get(s.name);
      if (!glyph) continue;
      let fraction = 0;
      const t = s.timer;
      if (t && s.status !== "down") {
        const until = t.kind === "follower" ? t.contact_us + t.span_us : t.due_us;
        fraction = (until - vnow) / t.span_us;
        if (t.kind === "follower" && t.contact_us <= 0) fraction = (t.due_us - vnow) / t.span_us;
      }
      glyph.arc.setAttribute("d", arcPath(glyph.x, glyph.y, this.radius + 12, fraction));
    }
  }

  // ------------------------------------------------------------ messages

  message(event) {
    const m = event.message;
    if (!m) return;
    if (m.type === "RpcFailure") {
      // The caller learns its call failed (refused by a down server, or timed out): the
      // request it made is marked dropped where it is.
      const from = this.ids.get(m.dst);
      const to = this.ids.get(m.src);
      const flight = this.flights.find(
        (f) => f.end === null && f.rpc === m.rpc && f.from === from && f.to === to,
      );
      if (flight && event.event === "deliver") this.drop(flight);
      return;
    }
    const key = `${m.type}|${m.src}|${m.dst}|${m.rpc}`;
    if (event.event === "send") {
      this.sent += 1;
      const now = performance.now();
      this.budget = Math.min(FLIGHTS_PER_S, this.budget + ((now - this.refilled) * FLIGHTS_PER_S) / 1000);
      this.refilled = now;
      if (this.budget < 1) return;
      this.budget -= 1;
      this.drawn += 1;
      const from = this.ids.get(m.src);
      const to = this.ids.get(m.dst);
      if (!from || !to || !this.places.has(from) || !this.places.has(to)) return;
      const shape = this.shape(m);
      this.flights.push({ key, from, to, rpc: m.rpc, start: performance.now(), shape, end: null });
      if (this.flights.length > MAX_FLIGHTS) this.flights.shift().shape.remove();
      return;
    }
    const flight = this.flights.find((f) => f.key === key && f.end === null);
    if (!flight) return;
    if (event.event === "drop") {
      this.drop(flight);
      return;
    }
    flight.end = "delivered";
    flight.ended = performance.now();
  }

  drop(flight) {
    flight.end = "dropped";
    flight.ended = performance.now();
    flight.shape.setAttribute("class", `${flight.shape.getAttribute("class")} dropped`);
    const mark = el("text", { class: "dropmark" }, flight.shape);
    mark.textContent = "✕";
  }

  shape(m) {
    const g = el("g", { class: "flight" }, this.messages);
    let kind;
    // A pre-vote (P4) and a transfer's TimeoutNow are calls for an election too.
    if (m.type === "RequestVote" || m.type === "RequestPreVote" || m.type === "TimeoutNow") {
      kind = "vote";
    }
    else if (m.type === "AppendEntries") kind = m.heartbeat ? "heartbeat" : "append";
    else kind = "reply";
    const square = m.type === "AppendEntries" || m.type === "AppendResponse";
    const size = kind === "heartbeat" ? 8 : kind === "append" ? 14 : 12;
    const body = square
      ? el("rect", { x: -size / 2, y: -size / 2, width: size, height: size }, g)
      : el("circle", { r: size / 2 }, g);
    body.setAttribute("class", `msg ${kind}${m.type.includes("PreVote") ? " pre" : ""}`);
    if (m.type === "TimeoutNow") el("text", { class: "verdict" }, g).textContent = "!";
    if (m.type === "VoteResponse" || m.type === "PreVoteResponse") {
      el("text", { class: "verdict" }, g).textContent = m.granted ? "✓" : "✗";
    }
    g.setAttribute("class", `flight ${kind}`);
    return g;
  }

  drawFlights(now, speed) {
    const span = FLIGHT_MS / Math.max(1, Math.log10(Math.max(speed, 1)) * 2 + 1);
    const keep = [];
    for (const f of this.flights) {
      let p = (now - f.start) / span;
      if (f.end === null) p = Math.min(p, 0.92);
      else if (f.end === "dropped") p = Math.min(p, 0.6);
      const gone =
        (f.end === "delivered" && p >= 1) ||
        (f.end === "dropped" && now - f.ended > 900) ||
        (f.end === null && now - f.start > 8000);
      if (gone) {
        f.shape.remove();
        continue;
      }
      const [x1, y1] = this.places.get(f.from) || [0, 0];
      const [x2, y2] = this.places.get(f.to) || [0, 0];
      const q = Math.min(1, p);
      // Requests and replies on one link keep apart: each on its own side of the line.
      const dx = x2 - x1;
      const dy = y2 - y1;
      const length = Math.hypot(dx, dy) || 1;
      const off = 6;
      const x = x1 + dx * q + (-dy / length) * off;
      const y = y1 + dy * q + (dx / length) * off;
      f.shape.setAttribute("transform", `translate(${x.toFixed(1)} ${y.toFixed(1)})`);
      keep.push(f);
    }
    this.flights = keep;
  }

  // The share of messages drawn since the last call (1 when every one was), then reset.
  sampled() {
    const share = this.sent ? this.drawn / this.sent : 1;
    this.sent = 0;
    this.drawn = 0;
    return share;
  }

  clearFlights() {
    for (const f of this.flights) f.shape.remove();
    this.flights = [];
  }
}
