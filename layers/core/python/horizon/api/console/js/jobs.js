// The jobs list with live progress bars, and the upload form.
import { api } from "./api.js";
import { byId, clear, h, setBar, show } from "./dom.js";
import { JobFeed } from "./realtime.js";

const FINISHED = new Set(["completed", "failed"]);
const rows = new Map(); // job_id → {status, bar, lines, valid, invalid}
let feed = null;
let nextCursor = null;
let reportTo = () => {};

function row(job) {
  const fill = h("div", { class: "bar-fill" });
  const cells = {
    status: h("td", { class: `status-${job.status}` }, job.status),
    lines: h("td", {}, job.lines ?? 0),
    valid: h("td", {}, job.valid ?? 0),
    invalid: h("td", {}, job.invalid ?? 0),
    fill,
  };
  const link = h("a", { href: `#/jobs/${encodeURIComponent(job.job_id)}` }, job.file_name || job.job_id);
  const tr = h(
    "tr",
    { "data-job-id": job.job_id },
    h("td", {}, link),
    cells.status,
    h("td", {}, h("div", { class: "bar" }, fill), h("span", { class: "muted percent" }, "")),
    cells.lines,
    cells.valid,
    cells.invalid,
    h("td", { class: "muted" }, (job.created_at || "").replace("T", " ").slice(0, 19)),
  );
  rows.set(job.job_id, cells);
  update(job);
  return tr;
}

/** Apply a job (REST) or a progress message (WebSocket) to its row. */
function update(state) {
  const cells = rows.get(state.job_id);
  if (!cells) return;
  cells.status.textContent = state.status;
  cells.status.className = `status-${state.status}`;
  for (const name of ["lines", "valid", "invalid"]) {
    if (state[name] !== undefined) cells[name].textContent = state[name];
  }
  setBar(cells.fill, state.percent, state.status);
  cells.fill.parentElement.nextElementSibling.textContent = `${state.percent ?? 0} %`;
}

function follow(job) {
  if (FINISHED.has(job.status)) return;
  feed ??= new JobFeed(update);
  feed.watch(job.job_id);
}

async function loadPage(cursor) {
  const query = new URLSearchParams({ limit: "50" });
  if (cursor) query.set("cursor", cursor);
  const page = await api(`api/v1/jobs?${query}`);
  const body = byId("jobs-body");
  for (const job of page.items) {
    body.append(row(job));
    follow(job);
  }
  nextCursor = page.next_cursor;
  show(byId("jobs-more"), Boolean(nextCursor));
}

async function upload(event) {
  event.preventDefault();
  const input = byId("upload-file");
  const status = byId("upload-status");
  const file = input.files[0];
  if (!file) return;
  const form = new FormData();
  form.append("file", file, file.name);
  status.textContent = `uploading ${file.name}…`;
  try {
    const answer = await api("api/v1/files/upload", { method: "POST", form });
    const job = { percent: 0, lines: 0, valid: 0, invalid: 0, file_name: file.name, ...answer };
    byId("jobs-body").prepend(row(job));
    follow(job);
    status.textContent = `job ${answer.job_id} queued`;
    input.value = "";
  } catch (error) {
    status.textContent = error.status === 413
      ? `${file.name} is too large for a direct upload: use \`horizon upload --presigned\``
      : `upload failed: ${error.detail || error.message}`;
  }
}

export function mount() {
  byId("upload-form").addEventListener("submit", upload);
  byId("jobs-more").addEventListener("click", () => loadPage(nextCursor).catch(reportTo));
}



export async function enter(_params, report) {
  reportTo = report;
  rows.clear();
  clear(byId("jobs-body"));
  await loadPage(null);
}

export function leave() {
  feed?.stop();
  feed = null;
}
