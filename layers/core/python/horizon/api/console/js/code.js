// The code editor bound to a code session: edits autosave (PATCH /code-sessions/{id}, with
// the version, so a session changed elsewhere is noticed), Run saves first, then runs the
// saved code and polls GET /executions/{id}.
import { ApiError, api } from "./api.js";
import { byId } from "./dom.js";
import { getCodeSession, setCodeSession } from "./session.js";

const AUTOSAVE_MS = 600;
const POLL_MS = 250;
const FINISHED = new Set(["COMPLETED", "FAILED", "TIMEOUT"]);
let session = null; // {session_id, version}
let timer = null;
let saving = Promise.resolve();
let dirty = false;

function bind(answer) {
  session = { session_id: answer.session_id, version: answer.version };
  setCodeSession(answer.session_id);
  byId("code-session").textContent = answer.session_id;
}

async function open(fresh) {
  const known = fresh ? null : getCodeSession();
  let answer = null;
  if (known) {
    try {
      answer = await api(`code-sessions/${encodeURIComponent(known)}`);
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 404) throw error;
    }
  }
  answer ??= await api("code-sessions", { method: "POST", json: { language: "python" } });
  bind(answer);
  byId("code-editor").value = answer.source_code;
  byId("code-saved").textContent = `version ${answer.version}`;
  dirty = false;
}

function save() {
  clearTimeout(timer);
  if (!dirty || !session) return saving;
  dirty = false;
  const source = byId("code-editor").value;
  saving = saving.then(async () => {
    const path = `code-sessions/${encodeURIComponent(session.session_id)}`;
    try {
      bind(await api(path, { method: "PATCH", json: { source_code: source, version: session.version } }));
      byId("code-saved").textContent = `saved, version ${session.version}`;
    } catch (error) {
      if (error.status !== 409) {
        dirty = true;
        byId("code-saved").textContent = `not saved: ${error.detail || error.message}`;
        return;
      }
      // Saved from elsewhere meanwhile: this editor's text is what the person sees, so it
      // wins, on top of the version that is there now.
      const current = await api(path);
      bind(await api(path, { method: "PATCH", json: { source_code: source, version: current.version } }));
      byId("code-saved").textContent = `saved over a change made elsewhere, version ${session.version}`;
    }
  });
  return saving;
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function runCode() {
  const status = byId("code-status");
  byId("code-run").disabled = true;
  byId("code-stdout").textContent = "";
  byId("code-stderr").textContent = "";
  try {
    dirty = true; // always run what is on screen
    await save();
    const accepted = await api(`code-sessions/${encodeURIComponent(session.session_id)}/run`, { method: "POST" });
    status.textContent = `${accepted.status} (${accepted.execution_id})`;
    let execution = accepted;
    while (!FINISHED.has(execution.status)) {
      await sleep(POLL_MS);
      execution = await api(`executions/${encodeURIComponent(accepted.execution_id)}`);
      status.textContent = execution.status;
    }
    byId("code-stdout").textContent = execution.stdout ?? "";
    byId("code-stderr").textContent = execution.stderr ?? "";
    const extra = execution.error ? ` — ${execution.error}` : "";
    status.textContent = `${execution.status}, exit code ${execution.exit_code ?? "none"}, ${execution.execution_time_ms ?? "?"} ms${extra}`;
  } catch (error) {
    status.textContent = `run failed: ${error.detail || error.message}`;
  } finally {
    byId("code-run").disabled = false;
  }
}

export function mount(report) {
  const editor = byId("code-editor");
  editor.addEventListener("input", () => {
    dirty = true;
    byId("code-saved").textContent = "editing…";
    clearTimeout(timer);
    timer = setTimeout(save, AUTOSAVE_MS);
  });
  editor.addEventListener("keydown", (event) => {
    // Tab indents instead of leaving the editor; Ctrl/Cmd+Enter runs.
    if (event.key === "Tab" && !event.shiftKey) {
      event.preventDefault();
      editor.setRangeText("    ", editor.selectionStart, editor.selectionEnd, "end");
      editor.dispatchEvent(new Event("input"));
    } else if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      runCode();
    }
  });
  byId("code-run").addEventListener("click", runCode);
  byId("code-new").addEventListener("click", () => open(true).catch(report));
}

export async function enter() {
  if (!session) await open(false);
}

export function leave() {
  save();
}
