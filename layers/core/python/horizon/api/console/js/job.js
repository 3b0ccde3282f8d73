// One job: its live status, a latency chart (the analytics query API), entries and errors.
import { api } from "./api.js";
import { drawChart } from "./chart.js";
import { byId, clear, h, setBar, show } from "./dom.js";
import { JobFeed } from "./realtime.js";

const KNOWN = ["line", "timestamp", "level", "service", "message", "http_status", "response_time_ms"];
// Stored beside each entry for queries (the timestamp in ms); not part of the log line.
const HIDDEN = new Set(["timestamp_ms"]);
const PAGE = 50;
let jobId = null;
let feed = null;
const cursors = { entries: null, errors: null };

function summarize(state) {
  setBar(byId("job-bar"), state.percent, state.status);
  byId("job-summary").textContent =
    `${state.status} · ${state.percent ?? 0} % · ${state.lines ?? 0} lines, ${state.valid ?? 0} valid, ${state.invalid ?? 0} invalid`;
}

function entryRow(entry) {
  const rest = Object.fromEntries(Object.entries(entry).filter(([name]) => !KNOWN.includes(name) && !HIDDEN.has(name)));
  const extra = Object.keys(rest).length ? JSON.stringify(rest) : "";
  return h("tr", {}, ...KNOWN.map((name) => h("td", {}, entry[name] ?? "")), h("td", { class: "mono" }, extra));
}

function errorRow(item) {
  return h("tr", {}, h("td", {}, item.line), h("td", {}, item.reason), h("td", { class: "mono" }, item.raw ?? ""));
}

async function loadMore(kind) {
  const query = new URLSearchParams({ limit: String(PAGE) });
  if (cursors[kind]) query.set("cursor", cursors[kind]);
  const page = await api(`api/v1/jobs/${encodeURIComponent(jobId)}/${kind}?${query}`);
  const body = byId(`${kind}-body`);
  for (const item of page.items) body.append(kind === "entries" ? entryRow(item) : errorRow(item));
  cursors[kind] = page.next_cursor;
  show(byId(`${kind}-more`), Boolean(page.next_cursor));
  if (!page.items.length && !body.children.length) {
    body.append(h("tr", {}, h("td", { colspan: 8, class: "muted" }, "none")));
  }
}

async function chart(event) {
  event?.preventDefault();
  const status = byId("chart-status");
  const metric = byId("chart-metric").value;
  const size = byId("chart-window").value;
  status.textContent = "asking…";
  try {
    const answer = await api(`api/v1/jobs/${encodeURIComponent(jobId)}/query`, {
      method: "POST",
      // The top 1000 windows by value are every window of a job of up to 1000 windows;
      // sorted back into time order below.
      json: { metric, field: "response_time_ms", window: { size }, top: 1000 },
    });
    const points = (answer.windows || []).filter((w) => w.value !== null).sort((a, b) => a.start.localeCompare(b.start));
    if (!points.length) {
      clear(byId("chart"));
      status.textContent = "no entry has a response_time_ms";
      return;
    }
    drawChart(byId("chart"), points);
    status.textContent = `${metric} of response_time_ms per ${size}: ${points.length} windows, from ${answer.source}`;
  } catch (error) {
    status.textContent = `query failed: ${error.detail || error.message}`;
  }
}

async function refresh() {
  clear(byId("entries-body"));
  clear(byId("errors-body"));
  cursors.entries = cursors.errors = null;
  await Promise.all([loadMore("entries"), loadMore("errors"), chart()]);
}

export function mount(report) {
  byId("entries-head").append(h("tr", {}, ...KNOWN.map((name) => h("th", {}, name)), h("th", {}, "other")));
  byId("chart-form").addEventListener("submit", chart);
  byId("entries-more").addEventListener("click", () => loadMore("entries").catch(report));
  byId("errors-more").addEventListener("click", () => loadMore("errors").catch(report));
}

export async function enter([id]) {
  jobId = decodeURIComponent(id);
  const job = await api(`api/v1/jobs/${encodeURIComponent(jobId)}`);
  byId("job-title").textContent = `Job ${job.file_name} (${job.job_id})`;
  summarize(job);
  await refresh();
  if (job.status !== "completed" && job.status !== "failed") {
    // Live progress; once the job ends its entries and the chart are read again.
    feed = new JobFeed((message) => {
      summarize(message);
      if (message.status === "completed" || message.status === "failed") refresh();
    });
    feed.watch(jobId);
  }
}

export function leave() {
  feed?.stop();
  feed = null;
  clear(byId("chart"));
}
