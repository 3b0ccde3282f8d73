// The console's entry point: loads the stack's settings, decides whether a key is needed,
// and shows one view per location hash (#/jobs, #/jobs/<id>, #/terminal, #/code, #/signin).
import { api, ApiError, configureApi, loadConfig } from "./api.js";
import { byId, show } from "./dom.js";
import * as code from "./code.js";
import * as job from "./job.js";
import * as jobs from "./jobs.js";
import { configure, websocketBase } from "./realtime.js";
import { getKey, signIn, signOut } from "./session.js";
import * as terminal from "./terminal.js";

const VIEWS = {
  jobs: { view: "view-jobs", module: jobs },
  job: { view: "view-job", module: job },
  terminal: { view: "view-terminal", module: terminal },
  code: { view: "view-code", module: code },
  signin: { view: "view-signin", module: null },
};
let current = null;
let open = false; // a stack without credentials (`make up`): every caller is one tenant

function report(error) {
  const notice = byId("notice");
  notice.textContent = error instanceof ApiError ? `The API answered ${error.message}` : String(error.message || error);
  show(notice);
  if (error instanceof ApiError && error.status === 401) {
    signOut();
    location.hash = "#/signin";
  }
}

function parse(hash) {
  const [name = "jobs", ...rest] = hash.replace(/^#\/?/, "").split("/").filter(Boolean);
  if (name === "jobs" && rest.length) return ["job", rest];
  return [name in VIEWS ? name : "jobs", rest];
}

async function route() {
  let [name, params] = parse(location.hash);
  if (name !== "signin" && !open && !getKey()) name = "signin";
  current?.module?.leave();
  for (const { view } of Object.values(VIEWS)) show(byId(view), false);
  show(byId("notice"), false);
  current = VIEWS[name];
  show(byId(current.view));
  for (const link of document.querySelectorAll(".top nav a")) {
    link.classList.toggle("active", parse(link.getAttribute("href"))[0] === name);
  }
  if (name === "signin") byId("signin-ws").value = new URLSearchParams(location.search).get("ws") || "";
  try {
    await current.module?.enter(params, report);
  } catch (error) {
    report(error);
  }
}

function showWho() {
  byId("who").textContent = getKey() ? `signed in · ${websocketBase()}` : open ? "open local stack (tenant local)" : "";
  show(byId("sign-out"), Boolean(getKey()));
}

async function submitSignIn(event) {
  event.preventDefault();
  const key = byId("signin-key").value.trim();
  const ws = byId("signin-ws").value.trim();
  const problem = byId("signin-error");
  try {
    // Any authenticated read says whether the key is good.
    await api("api/v1/jobs?limit=1", { key });
  } catch (error) {
    problem.textContent = error.status === 401 ? "That key was refused (401)." : `Cannot sign in: ${error.message}`;
    show(problem);
    return;
  }
  show(problem, false);
  signIn(key, ws);
  byId("signin-key").value = "";
  showWho();
  location.hash = "#/jobs";
}

async function boot() {
  const config = await loadConfig();
  configureApi(config);
  configure(config);
  open = config.sign_in_required === false;
  for (const { module } of Object.values(VIEWS)) module?.mount(report);
  byId("signin-form").addEventListener("submit", submitSignIn);
  byId("sign-out").addEventListener("click", () => {
    signOut();
    showWho();
    location.hash = "#/signin";
    route();
  });
  window.addEventListener("hashchange", route);
  showWho();
  await route();
}

boot();
