// Talking to the control listener: JSON calls and the event stream. A control token (when
// the listener needs one) comes from the page address's fragment, #token=..., which the
// browser never sends over the wire; every call then carries it as a bearer header.

const token = new URLSearchParams(location.hash.slice(1)).get("token") || "";

function headers(extra = {}) {
  const out = { ...extra };
  if (token) out.Authorization = `Bearer ${token}`;
  return out;
}

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function answer(response) {
  const text = await response.text();
  let data = null;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!response.ok) {
    const message = data && data.error ? data.error : text || response.statusText;
    throw new ApiError(response.status, message);
  }
  return data;
}

export async function get(path) {
  return answer(await fetch(path, { headers: headers(), cache: "no-store" }));
}

export async function post(path, body = undefined) {
  const init = { method: "POST", headers: headers() };
  if (body !== undefined) {
    init.headers = headers({ "Content-Type": "application/json" });
    init.body = JSON.stringify(body);
  }
  return answer(await fetch(path, init));
}

// The live events, as Server-Sent Events read with fetch (EventSource cannot send a
// token). Reconnects with Last-Event-ID after a drop, so nothing kept is missed.
export class EventStream {
  constructor(onEvent, onStatus) {
    this.onEvent = onEvent;
    this.onStatus = onStatus;
    this.lastId = null;
    this.messages = true;
    this.controller = null;
    this.stopped = false;
  }

  start() {
    this.stopped = false;
    this.loop();
  }

  restart(messages) {
    this.messages = messages;
    if (this.controller) this.controller.abort();
  }

  async loop() {
    while (!this.stopped) {
      this.controller = new AbortController();
      const extra = this.lastId === null ? {} : { "Last-Event-ID": String(this.lastId) };
      const query = `?recent=40${this.messages ? "&messages=1" : ""}`;
      try {
        const response = await fetch(`/v1/sim/events${query}`, {
          headers: headers(extra),
          signal: this.controller.signal,
          cache: "no-store",
        });
        if (!response.ok) throw new ApiError(response.status, await response.text());
        this.onStatus(true);
        await this.read(response.body.getReader());
      } catch (error) {
        if (error.name !== "AbortError") this.onStatus(false, error);
      }
      if (!this.stopped) await new Promise((resolve) => setTimeout(resolve, 300));
    }
  }

  async read(reader) {
    const decoder = new TextDecoder();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      buffer += decoder.decode(value, { stream: true });
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        let id = null;
        let data = "";
        for (const line of block.split("\n")) {
          if (line.startsWith("id: ")) id = Number(line.slice(4));
          else if (line.startsWith("data: ")) data += line.slice(6);
        }
        if (!data) continue;
        if (id !== null) this.lastId = id;
        this.onEvent(JSON.parse(data));
      }
    }
  }
}
