// The agent terminal: a task runs over the WebSocket (`run`) and its stdout/stderr stream in,
// written in seq order exactly once. A dropped connection reconnects and subscribes with
// `after_seq`, as `horizon task` does.
import { byId, h, randomId } from "./dom.js";
import { Channel } from "./realtime.js";

const RECONNECTS = 5;
let run = null;

function write(text, kind) {
  const out = byId("terminal-output");
  out.append(h("span", { class: kind }, text));
  out.scrollTop = out.scrollHeight;
}

class TaskRun {
  constructor(task) {
    this.task = task;
    this.requestId = randomId();
    this.taskId = null;
    this.lastSeq = 0;
    this.pending = new Map();
    this.done = false;
    this.drops = 0;
    this.channel = new Channel({
      onOpen: (channel) => this.#start(channel),
      onMessage: (message) => this.#take(message),
      reconnect: () => !this.done && ++this.drops <= RECONNECTS,
      onClose: () => this.done || this.#finish(`connection lost; task ${this.taskId ?? "not started"}`),
    });
  }

  start() {
    write(`$ ${this.task}\n`, "meta");
    this.channel.open();
  }

  cancel() {
    if (this.taskId) this.channel.send({ action: "cancel", task_id: this.taskId });
  }

  #start(channel) {
    if (this.taskId === null) {
      // The same request_id after a reconnect names the same task: it never runs twice.
      channel.send({ action: "run", task: this.task, request_id: this.requestId });
    } else {
      write(`(reconnected; resuming after seq ${this.lastSeq})\n`, "meta");
      channel.send({ action: "subscribe", task_id: this.taskId, after_seq: this.lastSeq });
    }
  }

  #take(message) {
    if (message.type === "accepted") {
      const again = this.taskId !== null;
      this.taskId = message.task_id;
      byId("terminal-cancel").disabled = false;
      // A repeated run (same request_id) is accepted without a subscription.
      if (again) this.channel.send({ action: "subscribe", task_id: this.taskId, after_seq: this.lastSeq });
    } else if ((message.type === "output" || message.type === "exit") && Number.isInteger(message.seq)) {
      if (message.seq > this.lastSeq) this.pending.set(message.seq, message);
      this.#drain();
    } else if (message.type === "error") {
      if (message.code === "conflict") return; // cancelled as it ended: its exit follows
      this.#finish(`error (${message.code}): ${message.message}`);
    }
  }

  #drain() {
    while (this.pending.has(this.lastSeq + 1)) {
      this.lastSeq += 1;
      const message = this.pending.get(this.lastSeq);
      this.pending.delete(this.lastSeq);
      if (message.type === "output") {
        write(message.data, message.stream === "stderr" ? "stderr" : "stdout");
      } else {
        const code = message.exit_code ?? "none";
        this.#finish(`[${message.status}, exit code ${code}]`);
        return;
      }
    }
  }

  #finish(line) {
    if (this.done) return;
    this.done = true;
    write(`${line}\n`, "meta");
    this.channel.close();
    byId("terminal-cancel").disabled = true;
    byId("terminal-input").disabled = false;
    byId("terminal-input").focus();
    if (run === this) run = null;
  }
}

export function mount() {
  byId("terminal-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const input = byId("terminal-input");
    const task = input.value.trim();
    if (!task || run) return;
    input.value = "";
    input.disabled = true;
    run = new TaskRun(task);
    run.start();
  });
  byId("terminal-cancel").addEventListener("click", () => run?.cancel());
}

export function enter() {
  byId("terminal-input").focus();
}

// A running task keeps streaming while another view is shown.
export function leave() {}
